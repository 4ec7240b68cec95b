"""Workers asked to stop mid-job: a warm shutdown finishes the job; a job that outlives the
soft shutdown is handed back and run again by the next worker. Nothing is lost, and no job
runs twice to completion."""

import signal

import pytest

from services.common.jobs.model import JobStatus
from tests.jobs import sample_count, submit, wait_status
from tests.processes import wait_until

STEPS = 30  # sample.sleepy takes 0.1 s a step


@pytest.mark.timeout(120)
def test_a_warm_shutdown_finishes_the_running_job_and_leaves_the_queue_alone(
    stack_on, redis_server
) -> None:
    stack = stack_on(redis_server.url)
    worker = stack.worker("sample", app="tests.sample_app")
    running = submit(stack, "sample.sleepy", payload={"steps": STEPS})
    wait_until(lambda: sample_count(stack, running.id) >= 2, timeout=30, what="the job to run")

    worker.signal(signal.SIGTERM)
    waiting = submit(stack, "sample.count")  # arrives while the worker stops
    assert worker.popen is not None
    assert worker.popen.wait(timeout=60) == 0
    assert "job succeeded" in worker.output()
    done = wait_status(stack, "sample", running.id, JobStatus.succeeded)
    assert (done.attempts, sample_count(stack, running.id, "done")) == (1, 1)
    assert sample_count(stack, running.id) == STEPS  # ran once, to its end

    stack.worker("sample", app="tests.sample_app")
    assert wait_status(stack, "sample", waiting.id, JobStatus.succeeded).result == {"runs": 1}


@pytest.mark.timeout(120)
def test_a_job_outliving_the_soft_shutdown_is_run_again_by_the_next_worker_once(
    stack_on, redis_server
) -> None:
    stack = stack_on(
        redis_server.url,
        # What Kubernetes does (k8s/base): SIGTERM becomes Celery's cold shutdown, which
        # first waits this long for running jobs (a soft shutdown).
        REMAP_SIGTERM="SIGQUIT",
        TASKYARD_WORKER_SOFT_SHUTDOWN_TIMEOUT="2",
    )
    worker = stack.worker("sample", app="tests.sample_app")
    job = submit(stack, "sample.sleepy", payload={"steps": 10 * STEPS})  # 30 s
    wait_until(lambda: sample_count(stack, job.id) >= 2, timeout=30, what="the job to run")

    worker.signal(signal.SIGTERM)
    assert worker.popen is not None
    worker.popen.wait(timeout=30)  # after the 2 s soft shutdown, not the job's 30 s
    assert sample_count(stack, job.id, "done") == 0
    first_run = sample_count(stack, job.id)
    assert first_run < 10 * STEPS

    stack.extra_env.pop("TASKYARD_WORKER_SOFT_SHUTDOWN_TIMEOUT")
    stack.worker("sample", app="tests.sample_app")
    done = wait_status(stack, "sample", job.id, JobStatus.succeeded)
    assert done.attempts == 2
    assert sample_count(stack, job.id, "done") == 1  # completed once
    assert sample_count(stack, job.id) == first_run + 10 * STEPS
