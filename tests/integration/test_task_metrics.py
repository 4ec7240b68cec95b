"""Worker task metrics: celery-exporter's names, summed over every pool process (the
sample stack's worker has two)."""

from services.common.jobs.model import JobStatus
from tests.integration.conftest import submit, wait_status
from tests.processes import wait_until
from tests.scrape import total
from tests.stack import Stack


def test_counts_every_task_of_every_pool_process(sample_stack: Stack) -> None:
    jobs = [submit(sample_stack, "sample.whoami") for _ in range(40)]
    pids = {
        wait_status(sample_stack, "sample", job.id, JobStatus.succeeded).result["pid"]
        for job in jobs
    }
    assert len(pids) > 1, "the pool must spread the jobs, or this proves nothing"

    url = sample_stack.worker_metrics["sample"]
    labels = {"name": "sample.whoami", "queue_name": "sample"}
    for counter in ("received", "started", "succeeded"):
        assert total(url, f"celery_task_{counter}_total", **labels) == 40, counter
    assert total(url, "celery_task_runtime_count", **labels) == 40
    assert total(url, "celery_task_queue_wait_time_count", **labels) == 40
    assert total(url, "celery_task_failed_total", **labels) == 0


def test_counts_failures_by_exception_and_retries(sample_stack: Stack) -> None:
    broken = [submit(sample_stack, "sample.fragile") for _ in range(3)]
    flaky = [submit(sample_stack, "sample.flaky", payload={"failures": 1}) for _ in range(2)]
    for job in broken:
        wait_status(sample_stack, "sample", job.id, JobStatus.failed)
    for job in flaky:
        wait_status(sample_stack, "sample", job.id, JobStatus.succeeded)

    url = sample_stack.worker_metrics["sample"]
    failed = total(url, "celery_task_failed_total", name="sample.fragile", exception="ValueError")
    assert failed == 3
    assert total(url, "celery_task_retried_total", name="sample.flaky") == 2
    assert total(url, "celery_task_started_total", name="sample.flaky") == 4
    assert total(url, "celery_task_succeeded_total", name="sample.flaky") == 2


def test_counts_a_task_nobody_knows_as_rejected(sample_stack: Stack) -> None:
    job = submit(sample_stack, "sample.nonexistent")
    url = sample_stack.worker_metrics["sample"]
    wait_until(
        lambda: total(url, "celery_task_rejected_total", name="sample.nonexistent") == 1,
        timeout=30,
        what=f"the unknown task of job {job.id} to be counted",
    )
