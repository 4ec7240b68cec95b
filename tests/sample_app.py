"""A Celery app of test tasks on the real base task, to drive retries, dead letters, cancels."""

import os
import signal
import time

from celery.exceptions import SoftTimeLimitExceeded

from services.common.broker import sync_client
from services.common.celery import create_celery_app
from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import JobStatus
from services.common.settings import Settings
from services.common.tasks import JobContext, RejectedInput, TransientError

settings = Settings()
app = create_celery_app("sample", settings)
redis = sync_client(settings)


def counter_key(what: str, job_id: str) -> str:
    """Where the tasks count their runs ("runs") and completed runs ("done") of a job."""
    return f"{settings.key_namespace}:sample-test:{what}:{job_id}"


def runs_key(job_id: str) -> str:
    return counter_key("runs", job_id)


def fixed_key() -> str:
    return f"{settings.key_namespace}:sample-test:fixed"


@app.task(name="sample.flaky")
def flaky(context: JobContext) -> dict[str, int]:
    """Fails transiently for its first ``failures`` attempts."""
    redis.incr(runs_key(context.job.id))
    if context.job.attempts <= context.job.payload["failures"]:
        raise TransientError(f"attempt {context.job.attempts} failed on purpose")
    return {"attempts": context.job.attempts}


@app.task(name="sample.fragile")
def fragile(context: JobContext) -> dict[str, bool]:
    """Fails permanently until the test marks the cause fixed."""
    if not redis.exists(fixed_key()):
        raise ValueError("the cause is not fixed yet")
    return {"fixed": True}


@app.task(name="sample.count")
def count(context: JobContext) -> dict[str, int]:
    return {"runs": int(redis.incr(runs_key(context.job.id)))}


@app.task(name="sample.sleepy")
def sleepy(context: JobContext) -> dict[str, int]:
    steps = context.job.payload["steps"]
    for step in range(steps):
        redis.incr(runs_key(context.job.id))
        context.progress(step / steps)
        time.sleep(0.1)
    redis.incr(counter_key("done", context.job.id))
    return {"steps": steps}


@app.task(name="sample.unheeding")
def unheeding(context: JobContext) -> None:
    """Never reports progress, so never hears of a cancel: it waits until its job was
    cancelled (30 s at most), then marks its effect done."""
    redis.incr(runs_key(context.job.id))
    job_key = QueueKeys(settings.key_namespace, "sample").job(context.job.id)
    deadline = time.monotonic() + 30
    while redis.hget(job_key, "status") != JobStatus.cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    context.succeed({"effect": "done"})


@app.task(name="sample.bad_input")
def bad_input(context: JobContext) -> None:
    raise RejectedInput("the input is unusable")


@app.task(name="sample.stubborn", soft_time_limit=1, time_limit=2)
def stubborn(context: JobContext) -> None:
    """Ignores its soft time limit, so only the hard limit stops it."""
    try:
        time.sleep(60)
    except SoftTimeLimitExceeded:
        time.sleep(60)


@app.task(name="sample.poison")
def poison(context: JobContext) -> None:
    """Kills its own process, every time."""
    redis.incr(runs_key(context.job.id))
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(name="sample.whoami")
def whoami(context: JobContext) -> dict[str, int]:
    """Says which pool process ran it."""
    time.sleep(0.05)  # long enough that the pool hands the next job to another child
    return {"pid": os.getpid()}
