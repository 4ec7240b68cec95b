"""How fast one worker process empties its queue of jobs that do nothing: ours against
Celery with its tutorial's defaults, each fed as fast as its own client can publish."""

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


def ours(stack: Stack, jobs: int) -> float:
    stack.worker("bench", concurrency=1, app="bench.noop_app")
    settings = Settings(REDIS_URL=stack.redis_url, key_namespace=stack.namespace, max_backlog=0)

    async def submit_all() -> None:
        client = async_client(settings)
        ledger = ledger_for(client, settings, "bench")
        for _ in range(jobs):
            await ledger.submit(Submission(task="bench.noop", tenant="bench", body_hash=""))
        await client.aclose()

    started = time.monotonic()
    asyncio.run(submit_all())
    wait_succeeded(stack.redis_url, QueueKeys(stack.namespace, "bench"), jobs)
    return jobs / (time.monotonic() - started)


def celery_defaults(stack: Stack, workdir: Path, jobs: int) -> float:
    textbook.app.conf.update(broker_url=stack.redis_url)
    with redis.Redis.from_url(stack.redis_url) as client:
        # What the textbook API queued for the enqueue figures: not this batch, not counted.
        client.delete(textbook.app.conf.task_default_queue)
    env = {"REDIS_URL": stack.redis_url}
    args = [str(BIN / "celery"), "-A", "bench.textbook", "worker", "-c", "1", "-l", "INFO"]
    worker = Process(f"textbook-worker-{uuid.uuid4().hex[:6]}", args, env, workdir)
    stack.processes.append(worker)
    worker.start().wait_ready(lambda: " ready." in worker.output(), timeout=60)
    marker = f"textbook-done-{uuid.uuid4().hex}"
    started = time.monotonic()
    for _ in range(jobs):
        textbook.noop.delay()
    textbook.last.delay(marker)
    with redis.Redis.from_url(stack.redis_url) as client:
        wait_until(lambda: bool(client.exists(marker)), timeout=600, what="textbook drain")
    return jobs / (time.monotonic() - started)


def drain_ratio(stack: Stack, workdir: Path, jobs: int) -> dict[str, float]:
    ours_rate = ours(stack, jobs)
    theirs = celery_defaults(stack, workdir, jobs)
    return {"ours_per_second": ours_rate, "celery_per_second": theirs, "ratio": ours_rate / theirs}
