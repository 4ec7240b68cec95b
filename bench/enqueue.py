"""How fast jobs get in: through the gateway, against arq, against the textbook endpoint."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from bench.workload import WELCOME
from bench.wrk import wrk
from services.common.broker import async_client
from services.common.jobs.ledger import Submission, ledger_for
from services.common.settings import Settings

MAIL = json.dumps(WELCOME)
JSON = {"Content-Type": "application/json"}


def gateway_ratio(gateway: str, key: str, seconds: float, connections: int) -> dict[str, Any]:
    """Authenticated submissions ÷ /healthz, both through the gateway, same load."""
    health = wrk(f"{gateway}/email/healthz", seconds=seconds, connections=connections)
    submit = wrk(
        f"{gateway}/email/messages",
        seconds=seconds,
        connections=connections,
        method="POST",
        body=MAIL,
        headers={**JSON, "Authorization": f"Bearer {key}"},
    )
    return {
        "healthz_per_second": health.per_second,
        "submit_per_second": submit.per_second,
        "ratio": submit.per_second / health.per_second,
    }


def textbook_ratio(
    ours: str, textbook: str, key: str, seconds: float, connections: int
) -> dict[str, Any]:
    """Our API's submit ÷ a FastAPI endpoint calling .delay(), each straight at its server,
    each given the same mail as its JSON body (the textbook one checks no key)."""
    auth = {**JSON, "Authorization": f"Bearer {key}"}
    our = wrk(
        f"{ours}/messages",
        seconds=seconds,
        connections=connections,
        method="POST",
        body=MAIL,
        headers=auth,
    )
    theirs = wrk(
        f"{textbook}/jobs",
        seconds=seconds,
        connections=connections,
        method="POST",
        body=MAIL,
        headers=JSON,
    )
    return {
        "ours_per_second": our.per_second,
        "textbook_per_second": theirs.per_second,
        "ratio": our.per_second / theirs.per_second,
    }


async def _rate(submit: Callable[[], Awaitable[object]], seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await submit()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


async def _peer_ratio(redis_url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    settings = Settings(REDIS_URL=redis_url, max_backlog=0, key_namespace="peer")
    client = async_client(settings)
    ledger = ledger_for(client, settings, "bench")
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        ours = await _rate(
            lambda: ledger.submit(Submission(task="bench.noop", tenant="bench", body_hash="")),
            seconds,
            concurrency,
        )
        arq = await _rate(lambda: pool.enqueue_job("noop"), seconds, concurrency)
    finally:
        await client.aclose()
        await pool.aclose()
    return {"ours_per_second": ours, "arq_per_second": arq, "ratio": ours / arq}


def peer_ratio(redis_url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Our submit path ÷ arq's enqueue_job, same Redis, same concurrency, one process each."""
    return asyncio.run(_peer_ratio(redis_url, seconds, concurrency))
