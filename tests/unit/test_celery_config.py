"""The hardened defaults, one assertion per known way to lose or repeat work (REFERENCE.md)."""

import pytest
from celery.concurrency import get_implementation
from pydantic import ValidationError

from services.common.celery import celery_config, create_celery_app
from services.common.jobs.keys import QueueKeys
from services.common.pool import TaskPool
from services.common.settings import Settings
from services.email.settings import EmailSettings


def config() -> dict:
    return celery_config(
        QueueKeys("taskyard", "ingest"),
        Settings(visibility_timeout=900, task_time_limit=600, task_soft_time_limit=550),
    )


def test_one_direct_exchange_and_queue_named_after_the_service() -> None:
    [queue] = config()["task_queues"]
    assert (queue.name, queue.exchange.name, queue.exchange.type, queue.routing_key) == (
        "ingest",
        "ingest",
        "direct",
        "ingest",
    )
    assert config()["task_create_missing_queues"] is False


def test_the_service_prefix_and_one_visibility_timeout_everywhere() -> None:
    conf = config()
    assert conf["broker_transport_options"]["global_keyprefix"] == "taskyard:ingest:"
    assert conf["broker_transport_options"]["visibility_timeout"] == 900
    assert conf["result_backend_transport_options"]["visibility_timeout"] == 900
    assert conf["visibility_timeout"] == 900
    assert conf["task_soft_time_limit"] < conf["task_time_limit"] < 900


def test_late_acks_no_prefetch_json_only_and_socket_timeouts() -> None:
    conf = config()
    assert conf["task_acks_late"]
    assert conf["task_reject_on_worker_lost"]
    assert (conf["worker_prefetch_multiplier"], conf["worker_disable_prefetch"]) == (1, True)
    assert conf["accept_content"] == conf["result_accept_content"] == ["json"]
    options = conf["broker_transport_options"]
    assert options["socket_timeout"] > 0
    assert options["socket_connect_timeout"] > 0


def test_short_jobs_fetch_one_ahead_and_task_events_wait_for_flower() -> None:
    assert EmailSettings().worker_prefetch == 2
    with pytest.raises(ValidationError):  # 0 would make Celery fetch without limit
        EmailSettings(worker_prefetch=0)
    conf = celery_config(QueueKeys("taskyard", "email"), EmailSettings())
    assert (conf["worker_prefetch_multiplier"], conf["worker_disable_prefetch"]) == (2, False)
    assert conf["worker_send_task_events"] is False


def test_a_pop_that_loses_nothing_and_a_restore_on_every_tick() -> None:
    options = config()["broker_transport_options"]
    assert options["priority_steps"] == [0]  # BLMOVE takes one list
    assert options["inflight_grace"] == Settings().inflight_grace_seconds
    assert options["unacked_restore_throttle"] == 1


def test_the_app_applies_the_config_and_its_tasks_are_job_tasks() -> None:
    app = create_celery_app("ingest", Settings())
    assert app.conf.task_acks_late is True
    assert get_implementation(app.conf.worker_pool) is TaskPool  # the pool of pool.py
    assert app.conf.broker_transport_options["global_keyprefix"] == "taskyard:ingest:"
    assert app.Task.keys == QueueKeys("taskyard", "ingest")
