"""Task metrics under celery-exporter's names, right with a prefork pool of any size.

Children run the tasks, so each worker runs prometheus-client in multiprocess mode: every
process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``, and one server in the
main process adds them up. A server per child would bind once and undercount by the pool
size. Only counters and histograms live here; they need no cleanup when a child exits.
"""

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from celery import signals
from celery.utils.dispatch import Signal
from prometheus_client import Counter, Histogram, start_http_server

from services.common.metrics import MULTIPROCESS_DIR, scrape_registry

_TASK = ["name", "queue_name"]
# Tasks run from milliseconds (a mail) to half an hour (a large load).
_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

TASKS_SENT = Counter("celery_task_sent_total", "Task messages published", _TASK)
TASKS_RECEIVED = Counter("celery_task_received_total", "Task messages a worker took", _TASK)
TASKS_STARTED = Counter("celery_task_started_total", "Tasks that began to run", _TASK)
TASKS_SUCCEEDED = Counter("celery_task_succeeded_total", "Tasks that returned", _TASK)
TASKS_FAILED = Counter("celery_task_failed_total", "Tasks that raised", [*_TASK, "exception"])
TASKS_RETRIED = Counter("celery_task_retried_total", "Tasks queued for another attempt", _TASK)
TASKS_REJECTED = Counter(
    "celery_task_rejected_total", "Messages refused: unknown task or unreadable body", _TASK
)
TASKS_REVOKED = Counter("celery_task_revoked_total", "Tasks revoked before they ran", _TASK)
TASK_RUNTIME = Histogram("celery_task_runtime", "Seconds a task ran", _TASK, buckets=_SECONDS)
TASK_QUEUE_WAIT = Histogram(
    "celery_task_queue_wait_time",
    "Seconds from when a task was due to when it started",
    _TASK,
    buckets=_SECONDS,
)

log = structlog.get_logger(__name__)


def count_task_metrics(queue: str, metrics_port: int) -> None:
    """Count every task of this worker's queue, and serve the sums on ``metrics_port``."""
    started_at: dict[str, float] = {}

    def serve(**_: Any) -> None:
        # In the main process, before the pool forks: children inherit the files' location.
        if not metrics_port:
            return
        if not MULTIPROCESS_DIR:
            raise RuntimeError(
                "a worker's metrics need PROMETHEUS_MULTIPROC_DIR: an empty, writable directory"
            )
        _wipe(Path(MULTIPROCESS_DIR))  # stale files would add a previous run's counts
        start_http_server(metrics_port, registry=scrape_registry())
        log.info("worker metrics served", port=metrics_port)

    def received(request: Any, **_: Any) -> None:
        TASKS_RECEIVED.labels(request.name, queue).inc()

    def started(task_id: str, task: Any, **_: Any) -> None:
        started_at[task_id] = time.monotonic()
        TASKS_STARTED.labels(task.name, queue).inc()
        due_at = getattr(task.request, "due_at", None)
        if isinstance(due_at, int | float):
            TASK_QUEUE_WAIT.labels(task.name, queue).observe(max(time.time() - due_at, 0.0))

    def finished(task_id: str, task: Any, **_: Any) -> None:
        began = started_at.pop(task_id, None)
        if began is not None:
            TASK_RUNTIME.labels(task.name, queue).observe(time.monotonic() - began)

    def succeeded(sender: Any, **_: Any) -> None:
        TASKS_SUCCEEDED.labels(sender.name, queue).inc()

    def failed(sender: Any, exception: BaseException, **_: Any) -> None:
        TASKS_FAILED.labels(sender.name, queue, type(exception).__name__).inc()

    def retried(sender: Any, **_: Any) -> None:
        TASKS_RETRIED.labels(sender.name, queue).inc()

    def revoked(request: Any, **_: Any) -> None:
        TASKS_REVOKED.labels(request.name, queue).inc()

    def unknown_task(name: str, **_: Any) -> None:
        TASKS_REJECTED.labels(name, queue).inc()

    def unreadable(message: Any, **_: Any) -> None:
        TASKS_REJECTED.labels(message.headers.get("task", "unknown"), queue).inc()

    handlers: dict[Signal, Callable[..., None]] = {
        signals.worker_init: serve,
        signals.task_received: received,
        signals.task_prerun: started,
        signals.task_postrun: finished,
        signals.task_success: succeeded,
        signals.task_failure: failed,
        signals.task_retry: retried,
        signals.task_revoked: revoked,
        signals.task_unknown: unknown_task,
        signals.task_rejected: unreadable,
    }
    for signal, handler in handlers.items():
        # weak=False: these closures have no other reference and would be collected at once.
        signal.connect(handler, weak=False)


def _wipe(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            os.unlink(entry)
