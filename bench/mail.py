"""Messages per second to a local SMTP sink: through Taskyard (API, queue, one worker of two
pool processes) against a plain smtplib loop over one connection, both sending the same mail.

The loop runs in a process of its own: beside the sink's event loop it would share that
process's interpreter lock and look slower than it is.
"""

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import httpx

from bench.workload import WELCOME, run_all, wait_succeeded
from services.common.jobs.keys import QueueKeys
from services.email.compose import compose
from services.email.schemas import MessageIn
from services.email.smtp import SmtpTarget
from tests.smtp import SmtpServer


def _smtplib_loop(smtp_url: str, messages: int) -> float:
    message = compose("bench", MessageIn.model_validate(WELCOME).model_dump(), "bench@example.com")
    recipients = WELCOME["to"]
    client = SmtpTarget.from_url(smtp_url, timeout=10).connect()
    try:
        started = time.monotonic()
        for _ in range(messages):
            client.send_message(message, to_addrs=recipients)
        return messages / (time.monotonic() - started)
    finally:
        client.quit()


def plain_smtplib(sink: SmtpServer, messages: int) -> float:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(_smtplib_loop, sink.url, messages).result()


async def _submit(api: str, key: str, messages: int, concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:

        async def post() -> None:
            (await client.post("/messages", json=WELCOME, headers=headers)).raise_for_status()

        await run_all(messages, concurrency, post)


def through_taskyard(api: str, key: str, redis_url: str, namespace: str, messages: int) -> float:
    started = time.monotonic()
    asyncio.run(_submit(api, key, messages, concurrency=8))
    wait_succeeded(redis_url, QueueKeys(namespace, "email"), messages)
    return messages / (time.monotonic() - started)


def mail_ratio(
    api: str, key: str, redis_url: str, namespace: str, sink: SmtpServer, messages: int
) -> dict[str, float]:
    ours = through_taskyard(api, key, redis_url, namespace, messages)
    plain = plain_smtplib(sink, messages)
    return {"ours_per_second": ours, "smtplib_per_second": plain, "ratio": ours / plain}
