"""Celery's prefork pool, without a crash on reconnecting to the broker.

With ``worker_cancel_long_running_tasks_on_connection_loss`` a broker loss terminates the pool
processes running late-acknowledged tasks. One whose exit was seen is untracked (its sentinel
set to None) but stays in the pool until the pool reaps it; when the broker is back within
that moment, the consumer registers every process again, the untracked one with a None
descriptor, and the worker stops with "Unrecoverable error: file descriptor is None"
(celery#9250). Selected with Celery's ``worker_pool`` setting (celery.py).
"""

from typing import Any

from celery.concurrency import asynpool, prefork


class AsynPool(asynpool.AsynPool):
    def _track_child_process(self, proc: Any, hub: Any) -> None:
        if getattr(proc, "_sentinel_poll", 0) is None:  # exited and untracked: being reaped
            return
        super()._track_child_process(proc, hub)  # type: ignore[misc]  # not in the stubs


class TaskPool(prefork.TaskPool):
    Pool = AsynPool
