"""What a queued job costs Redis, and whether a deep queue slows submissions down."""

import asyncio
import statistics
import time
from typing import Any

import redis

from services.common.broker import async_client
from services.common.jobs.ledger import Ledger, Submission, ledger_for
from services.common.settings import Settings

PAYLOAD = {"to": ["ann@example.com"], "template": "welcome", "variables": {"name": "Ann"}}


def _submission() -> Submission:
    return Submission(task="email.send", tenant="bench", body_hash="x" * 64, payload=PAYLOAD)


async def _p99(ledger: Ledger, samples: int) -> float:
    took = []
    for _ in range(samples):
        tick = time.perf_counter()
        await ledger.submit(_submission())
        took.append(time.perf_counter() - tick)
    return statistics.quantiles(took, n=100)[98]


async def _fill(ledger: Ledger, jobs: int, concurrency: int = 32) -> None:
    left = iter(range(jobs))

    async def loop() -> None:
        for _ in left:
            await ledger.submit(_submission())

    await asyncio.gather(*(loop() for _ in range(concurrency)))


async def _measure(redis_url: str, namespace: str, jobs: int, samples: int) -> dict[str, Any]:
    settings = Settings(REDIS_URL=redis_url, key_namespace=namespace, max_backlog=0)
    client = async_client(settings)
    ledger = ledger_for(client, settings, "email")
    try:
        empty_p99 = await _p99(ledger, samples)
        with redis.Redis.from_url(redis_url) as admin:
            before = int(admin.info("memory")["used_memory"])
            await _fill(ledger, jobs)
            used = int(admin.info("memory")["used_memory"]) - before
        deep_p99 = await _p99(ledger, samples)
    finally:
        await client.aclose()
    return {
        "queued_jobs": jobs,
        "bytes_per_job": used / jobs,
        "submit_p99_empty_ms": empty_p99 * 1000,
        "submit_p99_deep_ms": deep_p99 * 1000,
        "p99_ratio": deep_p99 / empty_p99,
    }


def memory(redis_url: str, namespace: str, jobs: int, samples: int = 2000) -> dict[str, Any]:
    return asyncio.run(_measure(redis_url, namespace, jobs, samples))
