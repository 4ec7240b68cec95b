"""How fast one worker process empties its queue of jobs that do nothing: ours against
Celery with its tutorial's defaults, each fed as fast as its own client can publish.

The two take turns, batch by batch, with both workers running throughout: the VM's speed
drifts from one minute to the next, and turns spread the drift over both sides.
"""

import asyncio
import time
import uuid
from pathlib import Path

import redis

from bench import textbook
from bench.workload import wait_succeeded
from services.common.broker import async_client
from services.common.jobs.keys import QueueKeys
from services.common.jobs.ledger import Submission, ledger_for
from services.common.settings import Settings
from tests.processes import BIN, Process, wait_until
from tests.stack import Stack

TURNS = 2


def ours(stack: Stack, jobs: int, done_before: int) -> float:
    """Seconds to submit ``jobs`` and see them succeed, after ``done_before`` earlier ones."""
    settings = Settings(REDIS_URL=stack.redis_url, key_namespace=stack.namespace, max_backlog=0)

    async def submit_all() -> None:
        client = async_client(settings)
        ledger = ledger_for(client, settings, "bench")
        for _ in range(jobs):
            await ledger.submit(Submission(task="bench.noop", tenant="bench", body_hash=""))
        await client.aclose()

    started = time.monotonic()
    asyncio.run(submit_all())
    wait_succeeded(stack.redis_url, QueueKeys(stack.namespace, "bench"), done_before + jobs)
    return time.monotonic() - started


def celery_defaults(redis_url: str, jobs: int) -> float:
    """Seconds to publish ``jobs`` with ``.delay()`` and see the textbook worker run them."""
    marker = f"textbook-done-{uuid.uuid4().hex}"
    started = time.monotonic()
    for _ in range(jobs):
        textbook.noop.delay()
    textbook.last.delay(marker)
    with redis.Redis.from_url(redis_url) as client:
        wait_until(lambda: bool(client.exists(marker)), timeout=600, what="textbook drain")
    return time.monotonic() - started


def start_textbook_worker(stack: Stack, workdir: Path) -> None:
    textbook.app.conf.update(broker_url=stack.redis_url)
    with redis.Redis.from_url(stack.redis_url) as client:
        # What the textbook API queued for the enqueue figures: not this batch, not counted.
        client.delete(textbook.app.conf.task_default_queue)
    env = {"REDIS_URL": stack.redis_url}
    args = [str(BIN / "celery"), "-A", "bench.textbook", "worker", "-c", "1", "-l", "INFO"]
    worker = Process(f"textbook-worker-{uuid.uuid4().hex[:6]}", args, env, workdir)
    stack.processes.append(worker)
    worker.start().wait_ready(lambda: " ready." in worker.output(), timeout=60)


def drain_ratio(stack: Stack, workdir: Path, jobs: int) -> dict[str, float]:
    stack.worker("bench", concurrency=1, app="bench.noop_app")
    start_textbook_worker(stack, workdir)
    batch = jobs // TURNS
    our_seconds = their_seconds = 0.0
    for turn in range(TURNS):
        our_seconds += ours(stack, batch, done_before=turn * batch)
        their_seconds += celery_defaults(stack.redis_url, batch)
    ours_rate, theirs = batch * TURNS / our_seconds, batch * TURNS / their_seconds
    return {"ours_per_second": ours_rate, "celery_per_second": theirs, "ratio": ours_rate / theirs}
