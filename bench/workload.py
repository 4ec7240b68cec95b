"""What the measurements share: the mail they submit, and how they drive and await jobs."""

import asyncio
from collections.abc import Awaitable, Callable

import redis

from services.common.jobs.keys import QueueKeys
from tests.processes import wait_until

WELCOME = {"to": ["ann@example.com"], "template": "welcome", "variables": {"name": "Ann"}}


async def run_all(count: int, concurrency: int, action: Callable[[], Awaitable[object]]) -> None:
    """``count`` calls of ``action``, ``concurrency`` of them at a time."""
    left = iter(range(count))

    async def loop() -> None:
        for _ in left:
            await action()

    await asyncio.gather(*(loop() for _ in range(concurrency)))


def wait_succeeded(redis_url: str, keys: QueueKeys, count: int) -> None:
    """Until the queue's ledger counts ``count`` succeeded jobs."""
    with redis.Redis.from_url(redis_url) as client:
        wait_until(
            lambda: int(client.hget(keys.status_counts, "succeeded") or 0) >= count,
            timeout=600,
            what=f"{count} {keys.queue} jobs to succeed",
        )
