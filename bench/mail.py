"""Messages per second to a local SMTP sink: through Taskyard (API, queue, worker) against a
plain smtplib loop that reuses one connection."""

import asyncio
import smtplib
import time
from email.message import EmailMessage

import httpx
import redis

from services.common.jobs.keys import QueueKeys
from tests.processes import wait_until
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
    body = {"to": ["ann@example.com"], "template": "welcome", "variables": {"name": "Ann"}}
    headers = {"Authorization": f"Bearer {key}"}
    left = iter(range(messages))
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:

        async def loop() -> None:
            for _ in left:
                (await client.post("/messages", json=body, headers=headers)).raise_for_status()

        await asyncio.gather(*(loop() for _ in range(concurrency)))


def through_taskyard(api: str, key: str, redis_url: str, namespace: str, messages: int) -> float:
    counts = QueueKeys(namespace, "email").status_counts
    started = time.monotonic()
    asyncio.run(_submit(api, key, messages, concurrency=8))
    with redis.Redis.from_url(redis_url) as client:
        wait_until(
            lambda: int(client.hget(counts, "succeeded") or 0) >= messages,
            timeout=600,
            what="every mail sent",
        )
    return messages / (time.monotonic() - started)
