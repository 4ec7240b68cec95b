"""The API side of the ledger: submit, read, cancel, and the dead-letter list.

A submission writes the job record and its queue message in one script (enqueue.py), so that
"202 was answered" and "the message is queued" are one atomic fact.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import WatchError

from services.common.broker import async_client
from services.common.jobs.enqueue import SCRIPT as ENQUEUE
from services.common.jobs.enqueue import Verdict, enqueue_args, enqueue_keys
from services.common.jobs.keys import QueueKeys
from services.common.jobs.message import task_message
from services.common.jobs.model import Job, JobStatus, decode, encode, new_job_id, utcnow
from services.common.jobs.transition import SCRIPT, Outcome, outcome, script_args, script_keys
from services.common.metrics import TASKS_SENT
from services.common.settings import Settings

log = structlog.get_logger(__name__)


class IdempotencyConflict(ValueError):
    """The same Idempotency-Key came with a different body."""

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was used with a different body.")


class QueueFull(Exception):
    """The queue's backlog reached its limit: accepting more would grow Redis without bound."""

    def __init__(self, queue: str, limit: int) -> None:
        super().__init__(f"The {queue} queue holds its limit of {limit} waiting jobs.")


class CountdownTooLong(ValueError):
    """A delay beyond the visibility timeout would be redelivered again and again (kombu#337)."""


@dataclass(frozen=True)
class Submission:
    task: str
    tenant: str
    body_hash: str
    payload: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    request_id: str | None = None
    countdown: float | None = None
    job_id: str = field(default_factory=new_job_id)
    # Later than any countdown may wait on the queue: the message waits in the delayed set
    # until the service's beat releases it (see delayed.py).
    release_at: datetime | None = None


class Ledger:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: QueueKeys,
        *,
        idempotency_ttl: int,
        finished_ttl: int,
        max_countdown: int,
        max_backlog: int = 0,
    ) -> None:
        self.client = client
        self.keys = keys
        self.idempotency_ttl = idempotency_ttl
        self.finished_ttl = finished_ttl
        self.max_countdown = max_countdown
        self.max_backlog = max_backlog
        self._transition = client.register_script(SCRIPT)
        self._enqueue = client.register_script(ENQUEUE)

    async def submit(self, submission: Submission) -> tuple[Job, bool]:
        """Queue a job, or return the one already made for this idempotency key.

        Returns the job and whether it was created now.
        """
        if submission.countdown is not None and submission.countdown > self.max_countdown:
            raise CountdownTooLong(
                f"a delay of {submission.countdown}s exceeds the {self.max_countdown}s allowed"
            )
        job = _new_job(submission)
        release_at = submission.release_at.timestamp() if submission.release_at else None
        message = task_message(self.keys, job, countdown=submission.countdown, due_at=release_at)
        idem_key = (
            self.keys.idempotency(submission.tenant, submission.idempotency_key)
            if submission.idempotency_key is not None
            else None
        )
        reply = await self._enqueue(
            keys=enqueue_keys(self.keys, job.id, idem_key),
            args=enqueue_args(
                # What a new job has not got yet (started_at, error, ...) is left out: an absent
                # field reads as empty, and the record stays smaller.
                record=job.model_dump(exclude_none=True),
                message=message,
                release_at=release_at,
                max_backlog=self.max_backlog,
                idempotency_value=f"{job.id} {job.body_hash}",
                idempotency_ttl=self.idempotency_ttl,
            ),
        )
        verdict = Verdict.of(reply)
        if verdict.kind == "exists":
            return await self._existing(verdict.detail, submission), False
        if verdict.kind == "full":
            log.warning("queue full", queue=self.keys.queue, backlog=int(verdict.detail))
            raise QueueFull(self.keys.queue, self.max_backlog)
        TASKS_SENT.labels(job.task, self.keys.queue).inc()
        log.info("job submitted", job_id=job.id, task=job.task, queue=self.keys.queue)
        return job, True

    async def _existing(self, stored: str, submission: Submission) -> Job:
        job_id, _, body_hash = stored.partition(" ")
        if body_hash != submission.body_hash:
            raise IdempotencyConflict
        job = await self.get(job_id)
        if job is None:  # expired with its record; the key outlived it
            raise IdempotencyConflict
        return job

    async def ready(self) -> None:
        """A write, not a PING: an out-of-memory or read-only broker answers PING but refuses
        the writes every submission needs."""
        await self.client.set(self.keys.prefix + "ready", "1", ex=60)

    async def get(self, job_id: str) -> Job | None:
        raw = cast(dict[str, str], await self.client.hgetall(self.keys.job(job_id)))
        return decode(raw) if raw else None

    async def cancel(self, job_id: str) -> Outcome:
        """A queued job is skipped when its message arrives; a running one stops at its next
        progress report."""
        now = utcnow()
        reply = await self._transition(
            keys=script_keys(self.keys, job_id),
            args=script_args(
                allowed=(JobStatus.queued, JobStatus.running),
                fields={"status": JobStatus.cancelled, "finished_at": now, "updated_at": now},
                expire_seconds=self.finished_ttl,
            ),
        )
        return outcome(reply)

    async def dead_letters(self, limit: int) -> list[Job]:
        job_ids = cast(list[str], await self.client.zrevrange(self.keys.dead_letters, 0, limit - 1))
        async with self.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.keys.job(job_id))
            records = await pipe.execute()
        return [decode(raw) for raw in records if raw]

    async def replay(self, job_id: str) -> Job | None:
        """Queue a dead-lettered job again, atomically leaving the dead-letter list, with a
        fresh count of attempts. None when it is not (or no longer) a dead letter."""
        job_key = self.keys.job(job_id)
        async with self.client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(job_key, self.keys.dead_letters)
                if await pipe.zscore(self.keys.dead_letters, job_id) is None:
                    return None
                raw = cast(dict[str, str], await pipe.hgetall(job_key))
                if not raw:  # its record is gone: nothing left to replay
                    await self.client.zrem(self.keys.dead_letters, job_id)
                    return None
                job = decode(raw)
                message = task_message(self.keys, job)
                reset: dict[str, Any] = {
                    "status": JobStatus.queued,
                    "progress": 0.0,
                    "attempts": 0,
                    "updated_at": utcnow(),
                    "finished_at": None,
                    "error": None,
                }
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(job_key, mapping=cast(dict[Any, Any], encode(reset)))
                pipe.zrem(self.keys.dead_letters, job_id)
                pipe.hincrby(self.keys.status_counts, JobStatus.queued, 1)
                pipe.lpush(self.keys.queue_list, message)
                await pipe.execute()
                TASKS_SENT.labels(job.task, self.keys.queue).inc()
            except WatchError:  # replayed or changed by someone else meanwhile
                return None
        return job.model_copy(update=reset)


def _new_job(submission: Submission) -> Job:
    now = utcnow()
    return Job(
        id=submission.job_id,
        task=submission.task,
        tenant=submission.tenant,
        created_at=now,
        updated_at=now,
        payload=submission.payload,
        request_id=submission.request_id,
        body_hash=submission.body_hash,
    )


def ledger_for(client: aioredis.Redis, settings: Settings, service: str) -> Ledger:
    """The ledger of any service on the shared broker: its own, or another's to submit to."""
    return Ledger(
        client,
        QueueKeys(settings.key_namespace, service),
        idempotency_ttl=settings.idempotency_ttl_seconds,
        finished_ttl=settings.finished_job_ttl_seconds,
        max_countdown=settings.max_countdown_seconds,
        max_backlog=settings.max_backlog,
    )


def submit_blocking(settings: Settings, service: str, submission: Submission) -> tuple[Job, bool]:
    """For synchronous callers (a worker asking another service for work): the same atomic
    submit path the APIs use, on a client of its own."""

    async def submit() -> tuple[Job, bool]:
        client = async_client(settings)
        try:
            return await ledger_for(client, settings, service).submit(submission)
        finally:
            await client.aclose()

    return asyncio.run(submit())
