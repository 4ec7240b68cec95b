"""Messages per second to a local SMTP sink: through Taskyard (API, queue, worker) against a
plain smtplib loop that reuses one connection."""

import asyncio
import smtplib
import time
from email.message import EmailMessage

import httpx

from bench.workload import WELCOME, run_all, wait_succeeded
from services.common.jobs.keys import QueueKeys
from tests.smtp import SmtpServer


def plain_smtplib(sink: SmtpServer, messages: int) -> float:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hi"
    message.set_content("Hello")
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        smtp.login(sink.username, sink.password)
        for _ in range(messages):
            smtp.send_message(message)
    return messages / (time.monotonic() - started)


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
