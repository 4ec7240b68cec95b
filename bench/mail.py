"""Messages per second to a local SMTP sink: Taskyard's worker (one, of two pool processes)
sending what the API queued, against a plain smtplib loop over one connection, the same mail.

Ours is timed from the first job's start to the last one's finish, as the ledger recorded
them, with every message queued first: the API's share is what the enqueue figures measure,
and on two cores it would take the CPU the sending needs. The end to end rate (POST to
succeeded, the worker running meanwhile) is reported beside it.

The loop runs in a process of its own: beside the sink's event loop it would share that
process's interpreter lock and look slower than it is.
"""

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

import httpx
import redis

from bench.workload import WELCOME, run_all, wait_succeeded
from services.common.jobs.keys import QueueKeys
from services.email.compose import compose
from services.email.schemas import MessageIn
from services.email.smtp import SmtpTarget
from tests.smtp import SmtpServer
from tests.stack import Stack


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


async def _submit(api: str, key: str, messages: int) -> list[str]:
    """Job ids of ``messages`` mails queued through the API, eight requests at a time."""
    headers = {"Authorization": f"Bearer {key}"}
    job_ids: list[str] = []
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:

        async def post() -> None:
            answer = await client.post("/messages", json=WELCOME, headers=headers)
            job_ids.append(answer.raise_for_status().json()["id"])

        await run_all(messages, 8, post)
    return job_ids


def queued_then_sent(stack: Stack, key: str, messages: int) -> float:
    keys = QueueKeys(stack.namespace, "email")
    job_ids = asyncio.run(_submit(stack.apis["email"], key, messages))
    stack.worker("email")
    wait_succeeded(stack.redis_url, keys, messages)
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        spans = [client.hmget(keys.job(job_id), "started_at", "finished_at") for job_id in job_ids]
    times = [[datetime.fromisoformat(moment).timestamp() for moment in span] for span in spans]
    return messages / (max(end for _, end in times) - min(start for start, _ in times))


def end_to_end(stack: Stack, key: str, messages: int) -> float:
    """POST of the first to `succeeded` of the last, with the worker running."""
    keys = QueueKeys(stack.namespace, "email")
    with redis.Redis.from_url(stack.redis_url) as client:
        done = int(client.hget(keys.status_counts, "succeeded") or 0)
    started = time.monotonic()
    asyncio.run(_submit(stack.apis["email"], key, messages))
    wait_succeeded(stack.redis_url, keys, done + messages)
    return messages / (time.monotonic() - started)


def mail_ratio(stack: Stack, key: str, sink: SmtpServer, messages: int) -> dict[str, float]:
    """``stack`` has the email API and no email worker yet."""
    ours = queued_then_sent(stack, key, messages)
    plain = plain_smtplib(sink, messages)
    return {
        "ours_per_second": ours,
        "smtplib_per_second": plain,
        "ratio": ours / plain,
        "end_to_end_per_second": end_to_end(stack, key, messages),
    }
