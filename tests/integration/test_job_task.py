"""The base task in a real prefork worker: retries, dead letters, replays, cancels, redelivery."""

import redis

from services.common.jobs.keys import QueueKeys
from services.common.jobs.message import task_message
from services.common.jobs.model import Job, JobStatus
from tests.jobs import logged, read_job, submit, wait_status, with_ledger
from tests.jobs import sample_count as runs
from tests.processes import wait_until
from tests.stack import Stack


def sample_redis(stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis_url, decode_responses=True)


def finished(stack: Stack, job: Job, status: JobStatus) -> Job:
    return wait_status(stack, "sample", job.id, status)


def test_transient_failures_are_retried_until_success(sample_stack) -> None:
    job = submit(sample_stack, "sample.flaky", payload={"failures": 2})
    done = finished(sample_stack, job, JobStatus.succeeded)
    assert (done.attempts, done.result, done.error) == (3, {"attempts": 3}, None)
    assert runs(sample_stack, job.id) == 3


def test_exhausted_attempts_dead_letter_the_job(sample_stack) -> None:
    job = submit(sample_stack, "sample.flaky", payload={"failures": 10})
    failed = finished(sample_stack, job, JobStatus.failed)
    assert failed.attempts == 3  # TASKYARD_MAX_ATTEMPTS
    assert (failed.error or "").startswith("TransientError")
    with sample_redis(sample_stack) as client:
        dead = QueueKeys(sample_stack.namespace, "sample").dead_letters
        assert client.zscore(dead, job.id) is not None


def test_permanent_failure_is_dead_lettered_at_once_and_replays_after_a_fix(sample_stack) -> None:
    job = submit(sample_stack, "sample.fragile")
    failed = finished(sample_stack, job, JobStatus.failed)
    assert (failed.attempts, failed.error) == (1, "ValueError: the cause is not fixed yet")

    with sample_redis(sample_stack) as client:
        client.set(f"{sample_stack.namespace}:sample-test:fixed", "1")
    assert with_ledger(sample_stack, "sample", lambda ledger: ledger.replay(job.id)) is not None

    replayed = finished(sample_stack, job, JobStatus.succeeded)
    assert (replayed.result, replayed.attempts) == ({"fixed": True}, 1)  # a fresh count
    dead = with_ledger(sample_stack, "sample", lambda ledger: ledger.dead_letters(100))
    assert job.id not in {letter.id for letter in dead}


def test_rejected_input_fails_without_a_dead_letter(sample_stack) -> None:
    job = submit(sample_stack, "sample.bad_input")
    assert finished(sample_stack, job, JobStatus.failed).error == "the input is unusable"
    with sample_redis(sample_stack) as client:
        dead = QueueKeys(sample_stack.namespace, "sample").dead_letters
        assert client.zscore(dead, job.id) is None


def test_a_redelivered_message_of_a_finished_job_does_nothing(sample_stack) -> None:
    job = submit(sample_stack, "sample.count")
    finished(sample_stack, job, JobStatus.succeeded)
    # The very same message again, as Redis delivers it after a visibility timeout.
    keys = QueueKeys(sample_stack.namespace, "sample")
    copy = task_message(keys, job)
    with sample_redis(sample_stack) as client:
        client.lpush(keys.queue_list, copy)
    worker = sample_stack.processes[0]
    wait_until(
        lambda: logged(worker.output(), "job skipped", job.id),
        timeout=30,
        what="the copy to be skipped",
    )
    assert runs(sample_stack, job.id) == 1
    assert read_job(sample_stack, "sample", job.id).attempts == 1


def test_cancelling_a_running_job_stops_it_at_its_next_progress_report(sample_stack) -> None:
    job = submit(sample_stack, "sample.sleepy", payload={"steps": 300})  # 30 s if never stopped
    wait_until(lambda: runs(sample_stack, job.id) >= 3, timeout=30, what="the job to run")
    assert with_ledger(sample_stack, "sample", lambda ledger: ledger.cancel(job.id)).applied
    cancelled_at = runs(sample_stack, job.id)
    worker = sample_stack.processes[0]
    wait_until(
        lambda: logged(worker.output(), "job cancelled while running", job.id),
        timeout=30,
        what="the task to stop",
    )
    assert runs(sample_stack, job.id) <= cancelled_at + 1  # it stopped at its next progress report
    assert read_job(sample_stack, "sample", job.id).status is JobStatus.cancelled


def test_an_effect_done_after_a_cancel_leaves_the_job_cancelled_and_says_so(sample_stack) -> None:
    job = submit(sample_stack, "sample.unheeding")
    wait_until(lambda: runs(sample_stack, job.id) == 1, timeout=30, what="the job to run")
    assert with_ledger(sample_stack, "sample", lambda ledger: ledger.cancel(job.id)).applied
    worker = sample_stack.processes[0]
    wait_until(
        lambda: logged(worker.output(), "job done after it stopped running", job.id),
        timeout=30,
        what="the late effect in the log",
    )
    assert read_job(sample_stack, "sample", job.id).status is JobStatus.cancelled


def test_a_job_killed_by_the_hard_time_limit_fails_into_the_dead_letters(sample_stack) -> None:
    job = submit(sample_stack, "sample.stubborn")
    failed = finished(sample_stack, job, JobStatus.failed)
    assert (failed.error or "").startswith("TimeLimitExceeded")
    dead = with_ledger(sample_stack, "sample", lambda ledger: ledger.dead_letters(100))
    assert job.id in {letter.id for letter in dead}


def test_a_job_that_kills_its_worker_is_dead_lettered_after_its_attempts(sample_stack) -> None:
    job = submit(sample_stack, "sample.poison")
    failed = finished(sample_stack, job, JobStatus.failed)
    assert runs(sample_stack, job.id) == 3  # TASKYARD_MAX_ATTEMPTS real runs, then no more
    assert failed.error == "gave up after 3 attempts that never finished"
    dead = with_ledger(sample_stack, "sample", lambda ledger: ledger.dead_letters(100))
    assert job.id in {letter.id for letter in dead}
    canary = submit(sample_stack, "sample.count")
    finished(sample_stack, canary, JobStatus.succeeded)  # the queue keeps flowing
