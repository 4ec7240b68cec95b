"""The Celery factory: one direct exchange and queue per service, with the hardened defaults.

Every setting below answers a known way to lose or repeat work on Redis (REFERENCE.md).
"""

from typing import Any

import structlog
from celery import Celery, signals
from kombu import Exchange, Queue

from services.common.heartbeat import install_heartbeat
from services.common.jobs.keys import CONTROL_EXCHANGE, EVENT_EXCHANGE, FANOUT_PREFIX, QueueKeys
from services.common.logging import configure_logging
from services.common.settings import Settings
from services.common.task_metrics import count_task_metrics
from services.common.tasks import JobTask


def create_celery_app(service: str, settings: Settings, *, include: tuple[str, ...] = ()) -> Celery:
    keys = QueueKeys(settings.key_namespace, service)
    task_class = type(f"{service.title()}Task", (JobTask,), {"settings": settings, "keys": keys})
    app = Celery(service, broker=settings.redis_url, include=list(include), task_cls=task_class)
    app.conf.update(celery_config(keys, settings))
    install_heartbeat(app, keys, settings)
    count_task_metrics(app, keys.queue, settings)
    _connect_worker_signals(service, settings)
    return app


def celery_config(keys: QueueKeys, settings: Settings) -> dict[str, Any]:
    redis_options = {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_socket_timeout,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "visibility_timeout": settings.visibility_timeout,
    }
    exchange = Exchange(keys.queue, type="direct")
    return {
        # Messages no worker should run are dropped, logged and counted, never fatal
        # (transport.py, consumer.py).
        "broker_transport": "services.common.transport:Transport",
        "worker_consumer": "services.common.consumer:Consumer",
        # The shared-broker sweep restores everyone's unacked messages: the prefix isolates ours.
        "broker_transport_options": {
            **redis_options,
            "global_keyprefix": keys.prefix,
            # The pop that loses nothing (BLMOVE) takes one list: one priority step.
            "priority_steps": [0],
            "inflight_grace": settings.inflight_grace_seconds,
            # Look for messages past the visibility timeout on every 10 s tick, not kombu's
            # every tenth: a job orphaned by a broker outage returns at its timeout, not 100 s
            # after it.
            "unacked_restore_throttle": 1,
            # Each fanout exchange on one pub/sub channel of a fixed name, which a Redis ACL
            # can grant (redis_acl.py).
            "fanout_prefix": FANOUT_PREFIX,
            "fanout_patterns": False,
        },
        "event_exchange": EVENT_EXCHANGE,
        "control_exchange": CONTROL_EXCHANGE,
        # Celery reads the visibility timeout in three places; set it in all (celery#9339).
        "result_backend_transport_options": dict(redis_options),
        "visibility_timeout": settings.visibility_timeout,
        "redis_socket_timeout": settings.redis_socket_timeout,
        "redis_socket_connect_timeout": settings.redis_connect_timeout,
        # Topic and fanout exchanges misroute on Redis (celery#2427): direct only.
        "task_queues": [Queue(keys.queue, exchange, routing_key=keys.queue)],
        "task_default_queue": keys.queue,
        "task_default_exchange": keys.queue,
        "task_default_exchange_type": "direct",
        "task_default_routing_key": keys.queue,
        "task_create_missing_queues": False,
        # Ack after the work, and requeue a task whose worker child died (celery#1628).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Reserved messages hide in the global unacked hash: one at a time, unless the
        # service's jobs are short (settings.worker_prefetch).
        "worker_prefetch_multiplier": settings.worker_prefetch,
        "worker_disable_prefetch": settings.worker_prefetch == 1,
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.task_soft_time_limit,
        # Pickle executes code (CVE-2021-23727): JSON only, in and out.
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "event_serializer": "json",
        # Status lives in the job ledger; AsyncResult says PENDING for anything (celery#4450).
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Prefork, minus a crash when the broker returns while such a process is reaped (pool.py).
        "worker_pool": "services.common.pool:TaskPool",
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child_kib,
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_timeout,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_hijack_root_logger": False,
        # Three publishes per job, for Flower alone: off unless a Flower asks for them (it
        # sends enable_events every few seconds while it runs).
        "worker_send_task_events": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


def _connect_worker_signals(service: str, settings: Settings) -> None:
    def setup_logging(**_: Any) -> None:
        configure_logging(service, log_format=settings.log_format, level=settings.log_level)

    def bind_task_context(task_id: str, task: Any, **_: Any) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=getattr(task.request, "request_id", None), job_id=task_id, task=task.name
        )

    def unbind_task_context(**_: Any) -> None:
        structlog.contextvars.clear_contextvars()

    # weak=False: these closures have no other reference and would be collected at once.
    signals.setup_logging.connect(setup_logging, weak=False)
    signals.task_prerun.connect(bind_task_context, weak=False)
    signals.task_postrun.connect(unbind_task_context, weak=False)
