"""The base task every job runs in: ledger bookkeeping, retries, and dead letters.

Delivery is at least once. The ledger makes effects at most once per job: a redelivered
task whose job already finished does nothing, and task bodies store results idempotently.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar

import structlog
from celery import Task
from celery.exceptions import Ignore, Reject, Retry
from celery.utils.time import get_exponential_backoff_interval

from services.common.broker import UNAVAILABLE
from services.common.jobs.keys import QueueKeys
from services.common.jobs.message import task_message
from services.common.jobs.model import Job, JobStatus, utcnow
from services.common.jobs.worker_ledger import WorkerLedger, worker_ledger
from services.common.settings import Settings

log = structlog.get_logger(__name__)


class TransientError(Exception):
    """Worth another attempt later (a timeout, a refused connection, a 4xx SMTP reply)."""


class RejectedInput(Exception):
    """The job's own input is unusable: it fails at once and is not dead-lettered, since a
    replay would fail the same way."""


class JobCancelled(Exception):
    """The job was cancelled while it ran."""


class PoisonJob(Exception):
    """Every attempt of the job killed its worker; it is dead-lettered instead of run again."""


@dataclass
class JobContext:
    job: Job
    report_progress: Callable[[float], None]
    record_success: Callable[[dict[str, Any] | None], None]
    succeeded: bool = False

    def progress(self, fraction: float) -> None:
        """Record progress; raises JobCancelled when the job was cancelled meanwhile."""
        self.report_progress(fraction)

    def succeed(self, result: dict[str, Any] | None) -> None:
        """Mark the job succeeded now, for a task whose effect cannot be taken back (a mail
        the server accepted): from this write on, no failure and no redelivery runs it again.
        The task should return right after; what it returns is not recorded."""
        self.record_success(result)
        self.succeeded = True


class JobTask(Task):  # type: ignore[type-arg]
    """Tasks take a JobContext; their messages carry only the job id."""

    settings: ClassVar[Settings]
    keys: ClassVar[QueueKeys]

    @cached_property
    def ledger(self) -> WorkerLedger:
        return worker_ledger(self.settings, self.keys)

    def __call__(self, job_id: str) -> Any:
        try:
            return self._run_job(job_id)
        except UNAVAILABLE as exc:
            # The broker went away mid-job: not the job's fault, so it is neither failed nor
            # dead-lettered. Rejected back to the queue, or, when the broker cannot even take
            # that, left unacknowledged for the visibility timeout to deliver again.
            log.warning("broker unavailable mid-job, job handed back", error=type(exc).__name__)
            raise Reject(exc, requeue=True) from None

    def _run_job(self, job_id: str) -> Any:
        job = self.ledger.begin(job_id)
        if job is None:
            log.info("job skipped", reason="finished, cancelled or unknown")
            raise Ignore  # acknowledged, and not counted as a task that succeeded
        if job.attempts > self.settings.max_attempts:
            # Redelivered after each of its runs killed the worker: a poison job stops here.
            error = f"gave up after {job.attempts - 1} attempts that never finished"
            self.ledger.fail(job_id, error, dead_letter=True)
            log.warning("job dead-lettered", error=error)
            raise PoisonJob(error)
        log.info("job started", attempt=job.attempts)
        context = JobContext(
            job=job,
            report_progress=lambda fraction: self._report(job_id, fraction),
            record_success=lambda result: self._succeed(job_id, result),
        )
        try:
            result = self.run(context)
        except JobCancelled:
            log.info("job cancelled while running")
            raise Ignore from None
        except TransientError as exc:
            self._retry_or_fail(job, exc)
        except RejectedInput as exc:
            self.ledger.fail(job_id, str(exc), dead_letter=False)
            log.info("job rejected its input", error=str(exc))
            return None
        except UNAVAILABLE:
            raise  # the broker's fault, not the job's: __call__ hands it back
        except Exception as exc:
            self.ledger.fail(job_id, _describe(exc), dead_letter=True)
            raise
        if not context.succeeded:
            self._succeed(job_id, result)
        return None

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Also called in the worker's main process when a hard time limit kills the child:
        the job must not stay "running" forever. A no-op for jobs __call__ already failed."""
        self.ledger.fail(task_id, _describe(exc), dead_letter=True)

    def _succeed(self, job_id: str, result: dict[str, Any] | None) -> None:
        outcome = self.ledger.succeed(job_id, result)
        if outcome.applied:
            log.info("job succeeded")
        else:  # cancelled, or failed by its hard time limit, meanwhile: that status stands
            log.warning("job done after it stopped running", status=outcome.previous)

    def _report(self, job_id: str, fraction: float) -> None:
        if self.ledger.progress(job_id, fraction).previous is JobStatus.cancelled:
            raise JobCancelled

    def _retry_or_fail(self, job: Job, exc: TransientError) -> None:
        if job.attempts >= self.settings.max_attempts:
            self.ledger.fail(job.id, _describe(exc), dead_letter=True)
            log.warning("job failed after its last attempt", attempts=job.attempts, error=str(exc))
            raise exc
        countdown = get_exponential_backoff_interval(
            factor=self.settings.retry_backoff_seconds,
            retries=job.attempts - 1,
            maximum=self.settings.retry_backoff_max_seconds,
            full_jitter=True,
        )
        # The next attempt's message and the job's new status are one transaction, so a
        # failed publish can never leave the job "queued" with no message behind it.
        message = task_message(self.keys, job, countdown=countdown, retries=job.attempts)
        self.ledger.retry_later(job.id, _describe(exc), message)
        log.info("job will be retried", attempt=job.attempts, countdown=countdown, error=str(exc))
        # Tells Celery (its events and metrics) this was a retry; the message is already queued.
        raise Retry(str(exc), exc=exc, when=utcnow() + timedelta(seconds=countdown))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
