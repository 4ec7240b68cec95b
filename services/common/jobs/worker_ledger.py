"""The worker side of the ledger: a job's life from running to an outcome."""

from typing import Any

import redis
from redis.exceptions import WatchError

from services.common.broker import sync_client
from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import Job, JobStatus, decode, encode, utcnow
from services.common.jobs.transition import SCRIPT, Outcome, outcome, script_args, script_keys
from services.common.settings import Settings

_OPEN = (JobStatus.queued, JobStatus.running)


class WorkerLedger:
    def __init__(self, client: redis.Redis, keys: QueueKeys, *, finished_ttl: int) -> None:
        self.client = client
        self.keys = keys
        self.finished_ttl = finished_ttl
        self._transition = client.register_script(SCRIPT)

    def get(self, job_id: str) -> Job | None:
        raw: dict[str, str] = self.client.hgetall(self.keys.job(job_id))  # type: ignore[assignment]
        return decode(raw) if raw else None

    def begin(self, job_id: str) -> Job | None:
        """Mark the job running; None when it must not run (finished, cancelled, unknown).

        A job still "running" is allowed: that is a redelivery after a worker died.
        """
        now = utcnow()
        result = self._apply(
            job_id,
            _OPEN,
            {"status": JobStatus.running, "started_at": now, "updated_at": now},
            increment="attempts",
            return_record=True,
        )
        return decode(result.record) if result.record else None

    def progress(self, job_id: str, fraction: float) -> Outcome:
        fields = {"progress": round(min(max(fraction, 0.0), 1.0), 4), "updated_at": utcnow()}
        return self._apply(job_id, (JobStatus.running,), fields)

    def succeed(self, job_id: str, result: dict[str, Any] | None) -> Outcome:
        now = utcnow()
        fields = {
            "status": JobStatus.succeeded,
            "progress": 1.0,
            "result": result,
            "error": None,
            "finished_at": now,
            "updated_at": now,
        }
        return self._apply(job_id, (JobStatus.running,), fields, expire=self.finished_ttl)

    def retry_later(self, job_id: str, error: str, message: str) -> bool:
        """Queue the next attempt's message, only while the job still runs (not cancelled)."""
        key = self.keys.job(job_id)
        fields = encode({"status": JobStatus.queued, "error": error, "updated_at": utcnow()})

        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    if pipe.hget(key, "status") != JobStatus.running:
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                    pipe.hincrby(self.keys.status_counts, JobStatus.running, -1)
                    pipe.hincrby(self.keys.status_counts, JobStatus.queued, 1)
                    pipe.lpush(self.keys.queue_list, message)
                    pipe.execute()
                    return True
                except WatchError:
                    continue

    def fail(self, job_id: str, error: str, *, dead_letter: bool) -> Outcome:
        """A dead letter stays until replayed; any other failure expires like a success."""
        now = utcnow()
        fields = {"status": JobStatus.failed, "error": error, "finished_at": now, "updated_at": now}
        if dead_letter:
            return self._apply(job_id, (JobStatus.running,), fields, dead_letter=True)
        return self._apply(job_id, (JobStatus.running,), fields, expire=self.finished_ttl)

    def fail_unrunnable(self, job_id: str, task: str, error: str) -> Outcome | None:
        """A queued job whose message no worker of its queue can run (its task is unknown
        here, say mid-deploy) becomes a dead letter to replay later, rather than "queued"
        forever. Only the job that message was made for: a message naming another task is
        not the job's."""
        job = self.get(job_id)
        if job is None or job.task != task:
            return None
        now = utcnow()
        fields = {"status": JobStatus.failed, "error": error, "finished_at": now, "updated_at": now}
        return self._apply(job_id, (JobStatus.queued,), fields, dead_letter=True)

    def _apply(
        self,
        job_id: str,
        allowed: tuple[JobStatus, ...],
        fields: dict[str, Any],
        *,
        increment: str = "",
        expire: int = 0,
        dead_letter: bool = False,
        return_record: bool = False,
    ) -> Outcome:
        keys = script_keys(self.keys, job_id, dead_letter)
        args = script_args(
            allowed=allowed,
            fields=fields,
            increment=increment,
            expire_seconds=expire,
            score=utcnow().timestamp(),
            return_record=return_record,
        )
        return outcome(self._transition(keys=keys, args=args))


def worker_ledger(settings: Settings, keys: QueueKeys) -> WorkerLedger:
    return WorkerLedger(sync_client(settings), keys, finished_ttl=settings.finished_job_ttl_seconds)
