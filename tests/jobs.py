"""Jobs on a test stack's ledger, straight through Redis: submit, read, wait."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis

from services.common.broker import async_client
from services.common.jobs.keys import QueueKeys
from services.common.jobs.ledger import Ledger, Submission
from services.common.jobs.model import Job, JobStatus, decode
from services.common.settings import Settings
from tests.processes import wait_until
from tests.stack import Stack

T = TypeVar("T")


def with_ledger(stack: Stack, service: str, action: Callable[[Ledger], Awaitable[T]]) -> T:
    """Run one action on the APIs' own ledger from a synchronous test."""

    async def go() -> T:
        client = async_client(Settings(REDIS_URL=stack.redis_url))
        keys = QueueKeys(stack.namespace, service)
        try:
            return await action(
                Ledger(client, keys, idempotency_ttl=60, finished_ttl=60, max_countdown=600)
            )
        finally:
            await client.aclose()

    return asyncio.run(go())


def submit(stack: Stack, task: str, **fields: Any) -> Job:
    submission = Submission(task=task, tenant="alpha", body_hash="", **fields)
    job, _ = with_ledger(stack, task.partition(".")[0], lambda ledger: ledger.submit(submission))
    return job


def read_job(stack: Stack, service: str, job_id: str) -> Job:
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        return decode(client.hgetall(QueueKeys(stack.namespace, service).job(job_id)))


def wait_status(stack: Stack, service: str, job_id: str, *statuses: JobStatus) -> Job:
    wait_until(
        lambda: read_job(stack, service, job_id).status in statuses,
        timeout=60,
        what=f"job {job_id} to be {'/'.join(statuses)}",
    )
    return read_job(stack, service, job_id)


def sample_count(stack: Stack, job_id: str, what: str = "runs") -> int:
    """How often tests/sample_app.py's tasks ran ("runs") or completed ("done") a job."""
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        return int(client.get(f"{stack.namespace}:sample-test:{what}:{job_id}") or 0)


def logged(log: str, event: str, job_id: str) -> bool:
    """Whether a worker's JSON log has ``event`` for ``job_id``."""
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return any(line["event"] == event and line.get("job_id") == job_id for line in lines)
