"""The worker's consumer, for the messages it receives but will not run.

Celery drops them with an error in its log (an unknown task name, a body it may not or cannot
decode); this also counts each one and fails the job an unknown task's message was made for.
Selected with Celery's ``worker_consumer`` setting.
"""

from functools import cached_property
from typing import Any, cast

from celery.worker.consumer import Consumer as CeleryConsumer

from services.common.jobs.worker_ledger import WorkerLedger, worker_ledger
from services.common.metrics import TASKS_REJECTED
from services.common.tasks import JobTask


class Consumer(CeleryConsumer):
    def on_decode_error(self, message: Any, exc: Exception) -> None:
        super().on_decode_error(message, exc)
        TASKS_REJECTED.labels(message.headers.get("task", "unknown"), self._queue).inc()

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        super().on_unknown_task(body, message, exc)  # counted by the task_unknown signal
        name, job_id = message.headers.get("task"), message.headers.get("id")
        if isinstance(name, str) and isinstance(job_id, str):
            self._ledger.fail_unrunnable(
                job_id, name, f"no worker of this queue knows the task {name!r}"
            )

    @property
    def _queue(self) -> str:
        return str(self.app.conf.task_default_queue)

    @cached_property
    def _ledger(self) -> WorkerLedger:
        task_class = cast(type[JobTask], self.app.Task)  # the service's: its settings and keys
        return worker_ledger(task_class.settings, task_class.keys)
