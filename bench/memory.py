"""What a queued job costs Redis, and whether a deep queue slows submissions down."""

import asyncio
import statistics
import time
from typing import Any

import redis

from bench.workload import WELCOME, run_all
from services.common.broker import async_client
from services.common.jobs.ledger import Ledger, Submission, ledger_for
from services.common.settings import Settings
from tests.processes import wait_until


def _submission() -> Submission:
    return Submission(task="email.send", tenant="bench", body_hash="x" * 64, payload=WELCOME)


async def _p99(ledger: Ledger, samples: int) -> float:
    took = []
    for _ in range(samples):
        tick = time.perf_counter()
        await ledger.submit(_submission())
        took.append(time.perf_counter() - tick)
    return statistics.quantiles(took, n=100)[98]


async def _measure(redis_url: str, namespace: str, jobs: int, samples: int) -> dict[str, Any]:
    settings = Settings(REDIS_URL=redis_url, key_namespace=namespace, max_backlog=0)
    client = async_client(settings)
    ledger = ledger_for(client, settings, "email")
    try:
        with redis.Redis.from_url(redis_url) as admin:
            # Both sides measured warm, and not while an AOF rewrite forks: the earlier figures'
            # writes, then loading the queue, grow the AOF past its rewrite threshold.
            await _p99(ledger, 200)
            wait_until(lambda: _rewrite_done(admin), timeout=600, what="the AOF rewrite")
            empty_p99 = await _p99(ledger, samples)
            before = int(admin.info("memory")["used_memory"])
            await run_all(jobs, 32, lambda: ledger.submit(_submission()))
            used = int(admin.info("memory")["used_memory"]) - before
            wait_until(lambda: _rewrite_done(admin), timeout=600, what="the AOF rewrite")
        deep_p99 = await _p99(ledger, samples)
    finally:
        await client.aclose()
    return {
        "bytes_per_job": used / jobs,
        "submit_p99_empty_ms": empty_p99 * 1000,
        "submit_p99_deep_ms": deep_p99 * 1000,
        "p99_ratio": deep_p99 / empty_p99,
    }


def _rewrite_done(admin: redis.Redis) -> bool:
    persistence = admin.info("persistence")
    return not (persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"])


def memory(redis_url: str, namespace: str, jobs: int, samples: int = 2000) -> dict[str, Any]:
    return asyncio.run(_measure(redis_url, namespace, jobs, samples))
