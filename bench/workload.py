"""What the measurements share: the mail they submit, and how they drive and await jobs."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import redis

from services.common.jobs.keys import QueueKeys
from tests.processes import wait_until
from tests.stack import wait_for_job

# Seconds between status polls of a timed job: its time is the worker's `finished_at`, so
# polling seldom costs no precision and leaves the CPU to the worker.
POLL = 0.25

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


def timed_job(
    client: httpx.Client, started: float, path: str, headers: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    """Seconds from ``started`` (epoch) to the worker's `finished_at` of the job at ``path``,
    and its last view; raises unless it succeeded."""
    view = wait_for_job(client, path, headers, timeout=1800, interval=POLL)
    if view["status"] != "succeeded":
        raise RuntimeError(f"a bench job did not succeed: {view}")
    return datetime.fromisoformat(view["finished_at"]).timestamp() - started, view
