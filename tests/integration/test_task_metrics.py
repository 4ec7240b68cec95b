"""Worker task metrics: celery-exporter's names, summed over every pool process (the
sample stack's worker has two)."""

from services.common.jobs.model import JobStatus
from tests.jobs import submit, wait_status
from tests.scrape import wait_for_totals
from tests.stack import Stack


def test_counts_every_task_of_every_pool_process(sample_stack: Stack) -> None:
    jobs = [submit(sample_stack, "sample.whoami") for _ in range(40)]
    pids = {
        wait_status(sample_stack, "sample", job.id, JobStatus.succeeded).result["pid"]
        for job in jobs
    }
    assert len(pids) > 1, "the pool must spread the jobs, or this proves nothing"

    expected = {
        f"celery_task_{name}": 40
        for name in ("received_total", "started_total", "succeeded_total", "runtime_count")
    }
    expected |= {"celery_task_queue_wait_time_count": 40, "celery_task_failed_total": 0}
    url = sample_stack.worker_metrics["sample"]
    wait_for_totals(url, expected, name="sample.whoami", queue_name="sample")


def test_counts_failures_by_exception_and_retries(sample_stack: Stack) -> None:
    broken = [submit(sample_stack, "sample.fragile") for _ in range(3)]
    flaky = [submit(sample_stack, "sample.flaky", payload={"failures": 1}) for _ in range(2)]
    for job in broken:
        wait_status(sample_stack, "sample", job.id, JobStatus.failed)
    for job in flaky:
        wait_status(sample_stack, "sample", job.id, JobStatus.succeeded)

    url = sample_stack.worker_metrics["sample"]
    wait_for_totals(
        url, {"celery_task_failed_total": 3}, name="sample.fragile", exception="ValueError"
    )
    wait_for_totals(
        url,
        {
            "celery_task_retried_total": 2,
            "celery_task_started_total": 4,
            "celery_task_succeeded_total": 2,
        },
        name="sample.flaky",
    )


def test_counts_a_task_nobody_knows_as_rejected(sample_stack: Stack) -> None:
    submit(sample_stack, "sample.nonexistent")
    url = sample_stack.worker_metrics["sample"]
    wait_for_totals(url, {"celery_task_rejected_total": 1}, name="sample.nonexistent")
