"""The API side of the ledger against a real redis-server."""

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from services.common.broker import async_client
from services.common.jobs.keys import QueueKeys
from services.common.jobs.ledger import (
    CountdownTooLong,
    IdempotencyConflict,
    Ledger,
    QueueFull,
    Submission,
)
from services.common.jobs.model import JobStatus
from services.common.settings import Settings


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


@pytest.fixture
def keys() -> QueueKeys:
    return QueueKeys(f"t{uuid.uuid4().hex[:8]}", "sample")


@asynccontextmanager
async def open_ledger(
    redis_url: str, keys: QueueKeys, max_backlog: int = 0
) -> AsyncIterator[Ledger]:
    client = async_client(Settings(REDIS_URL=redis_url))
    yield Ledger(
        client,
        keys,
        idempotency_ttl=60,
        finished_ttl=60,
        max_countdown=600,
        max_backlog=max_backlog,
    )
    await client.aclose()


def submission(**overrides: Any) -> Submission:
    return Submission(**{"task": "sample.count", "tenant": "alpha", "body_hash": "h1", **overrides})


def test_submit_writes_the_record_and_the_message_together(redis_server, keys) -> None:
    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            job, created = await ledger.submit(submission(request_id="req-1", payload={"n": 1}))
            assert created
            stored = await ledger.get(job.id)
            assert stored is not None
            assert (stored.status, stored.tenant, stored.payload) == (
                JobStatus.queued,
                "alpha",
                {"n": 1},
            )
            [raw] = await ledger.client.lrange(keys.queue_list, 0, -1)
            envelope = json.loads(raw)
            args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
            assert args == [job.id]  # the id only: no payload travels in the message
            assert kwargs == {}
            assert envelope["headers"]["task"] == "sample.count"
            assert envelope["headers"]["id"] == job.id
            assert envelope["headers"]["request_id"] == "req-1"
            assert envelope["properties"]["delivery_info"] == {
                "exchange": "sample",
                "routing_key": "sample",
            }

    run(scenario())


def test_same_idempotency_key_and_body_give_the_same_job(redis_server, keys) -> None:
    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            first, created_first = await ledger.submit(submission(idempotency_key="k"))
            again, created_again = await ledger.submit(submission(idempotency_key="k"))
            assert (created_first, created_again) == (True, False)
            assert again.id == first.id
            assert await ledger.client.llen(keys.queue_list) == 1
            with pytest.raises(IdempotencyConflict):
                await ledger.submit(submission(idempotency_key="k", body_hash="other"))
            other_tenant, created = await ledger.submit(
                submission(idempotency_key="k", tenant="beta")
            )
            assert created
            assert other_tenant.id != first.id

    run(scenario())


def test_concurrent_submissions_with_one_key_make_one_job(redis_server, keys) -> None:
    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            ledgers = [
                await stack.enter_async_context(open_ledger(redis_server.url, keys))
                for _ in range(10)
            ]
            results = await asyncio.gather(
                *(ledger.submit(submission(idempotency_key="race")) for ledger in ledgers)
            )
            assert len({job.id for job, _ in results}) == 1
            assert sum(created for _, created in results) == 1
            assert await ledgers[0].client.llen(keys.queue_list) == 1

    run(scenario())


def test_cancel_only_open_jobs(redis_server, keys) -> None:
    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            job, _ = await ledger.submit(submission())
            assert (await ledger.cancel(job.id)).applied
            again = await ledger.cancel(job.id)
            assert not again.applied
            assert again.previous is JobStatus.cancelled
            assert not (await ledger.cancel("no-such-job")).applied

    run(scenario())


def test_replay_needs_a_dead_letter(redis_server, keys) -> None:
    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            job, _ = await ledger.submit(submission())
            assert await ledger.replay(job.id) is None
            await ledger.client.hset(
                keys.job(job.id), mapping={"status": "failed", "error": "boom"}
            )
            await ledger.client.zadd(keys.dead_letters, {job.id: 1.0})
            assert [dead.id for dead in await ledger.dead_letters(10)] == [job.id]
            replayed = await ledger.replay(job.id)
            assert replayed is not None
            assert (replayed.status, replayed.error) == (JobStatus.queued, None)
            assert await ledger.dead_letters(10) == []
            assert (
                await ledger.client.llen(keys.queue_list) == 2
            )  # the first message and the replay

    run(scenario())


def test_a_countdown_beyond_the_visibility_window_is_refused(redis_server, keys) -> None:
    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            await ledger.submit(submission(countdown=600))
            with pytest.raises(CountdownTooLong):
                await ledger.submit(submission(countdown=601))
            assert await ledger.client.llen(keys.queue_list) == 1

    run(scenario())


def test_a_delayed_job_waits_outside_the_queue_and_is_released_once(redis_server, keys) -> None:
    from datetime import timedelta

    from services.common.jobs.delayed import release_due
    from services.common.jobs.model import utcnow

    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            await ledger.submit(submission(release_at=utcnow() - timedelta(seconds=1)))
            later, _ = await ledger.submit(submission(release_at=utcnow() + timedelta(days=3)))
            assert await ledger.client.llen(keys.queue_list) == 0
            assert (await ledger.get(later.id)).status is JobStatus.queued

    run(scenario())
    with redis_server.client() as client:
        assert release_due(client, keys) == 1
        assert release_due(client, keys) == 0  # moved once, not again
        assert client.llen(keys.queue_list) == 1
        assert client.zcard(keys.delayed) == 1  # the one due in three days


def test_a_full_queue_refuses_without_writing_and_accepts_again_below_its_limit(
    redis_server, keys
) -> None:
    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys, max_backlog=3) as ledger:
            client = ledger.client
            await ledger.submit(submission())
            # The queue's list and the delayed set count towards the backlog.
            await client.lpush(keys.queue_list, "a message pushed by hand")
            await client.zadd(keys.delayed, {"a delayed message": 1})
            ours = keys.prefix + "*"  # the redis-server is shared with other suites' stacks
            before = sorted(await client.keys(ours))
            refused = submission(idempotency_key="k1")
            with pytest.raises(QueueFull, match="limit of 3"):
                await ledger.submit(refused)
            assert sorted(await client.keys(ours)) == before  # no record, key or message
            assert await ledger.get(refused.job_id) is None

            await client.rpop(keys.queue_list)  # a worker takes one
            job, created = await ledger.submit(refused)
            assert created
            assert job.id == refused.job_id
            assert await client.llen(keys.queue_list) == 2  # the one left and the new one

    run(scenario())


def test_a_repeated_submission_queues_its_message_once(redis_server, keys) -> None:
    """What a client retrying on a broken connection sends: the same job id again."""

    async def scenario() -> None:
        async with open_ledger(redis_server.url, keys) as ledger:
            once = submission()
            await ledger.submit(once)
            await ledger.submit(once)
            assert await ledger.client.llen(keys.queue_list) == 1
            assert await ledger.client.hget(keys.status_counts, "queued") == "1"

    run(scenario())
