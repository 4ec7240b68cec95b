"""Task metrics under celery-exporter's names, right with a prefork pool of any size.

Children run the tasks, so each worker runs prometheus-client in multiprocess mode: every
process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``, and one server in the
main process adds them up. A server per child would bind once and undercount by the pool
size. Only counters and histograms are kept; they need no cleanup when a child exits.
"""

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps, signals
from celery.utils.dispatch import Signal
from prometheus_client import start_http_server

from services.common.metrics import (
    MULTIPROCESS_DIR,
    TASK_QUEUE_WAIT,
    TASK_RUNTIME,
    TASKS_FAILED,
    TASKS_RECEIVED,
    TASKS_REJECTED,
    TASKS_RETRIED,
    TASKS_REVOKED,
    TASKS_STARTED,
    TASKS_SUCCEEDED,
    scrape_registry,
)
from services.common.settings import Settings


def count_task_metrics(app: Celery, queue: str, settings: Settings) -> None:
    """Count every task of this app's queue; serve the sums when the worker has a port."""
    if settings.worker_metrics_port:
        if not MULTIPROCESS_DIR:
            raise RuntimeError(
                "TASKYARD_WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: "
                "an empty, writable directory of this worker's own"
            )
        app.steps["worker"].add(_metrics_server(settings))
    started_at: dict[str, float] = {}

    def stamp_due_at(headers: dict[str, Any], **_: Any) -> None:
        # Messages Celery publishes itself (the beat's) are due at once; ours carry due_at.
        headers.setdefault("due_at", time.time())

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

    def revoked(sender: Any, **_: Any) -> None:
        TASKS_REVOKED.labels(sender.name, queue).inc()

    def unknown_task(name: str, **_: Any) -> None:
        TASKS_REJECTED.labels(name, queue).inc()

    def unreadable(message: Any, **_: Any) -> None:
        TASKS_REJECTED.labels(message.headers.get("task", "unknown"), queue).inc()

    handlers: dict[Signal, Callable[..., None]] = {
        signals.before_task_publish: stamp_due_at,
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


def _metrics_server(settings: Settings) -> type[bootsteps.Step]:
    class MetricsServer(bootsteps.Step):
        """Built in the main process before the pool forks. A worker step, not a signal
        handler: Celery logs and swallows a handler's error, and a worker whose metrics
        cannot be served must not start."""

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            _wipe(Path(MULTIPROCESS_DIR))  # a previous run's files would add its counts
            start_http_server(
                settings.worker_metrics_port,
                addr=settings.worker_metrics_host,
                registry=scrape_registry(),
            )

    return MetricsServer


def _wipe(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            os.unlink(entry)
