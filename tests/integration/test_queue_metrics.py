"""The queue exporter reads every queue's figures from a real Redis, once per queue."""

import json
from collections.abc import Iterator

import pytest
import redis

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import JobStatus
from services.common.jobs.worker_ledger import WorkerLedger
from tests.conftest import RedisServer
from tests.jobs import submit, wait_status
from tests.processes import wait_until
from tests.scrape import total
from tests.stack import Stack


@pytest.fixture
def idle(redis_server, sqlite_url, tmp_path) -> Iterator[Stack]:
    """A namespace with an exporter and, until a test starts one, no worker."""
    stack = Stack(redis_server.url, sqlite_url, tmp_path)
    try:
        yield stack
    finally:
        stack.stop()


def test_backlog_sums_the_queue_and_the_reserved(idle: Stack) -> None:
    url = idle.queue_exporter("sample", "other")
    jobs = [submit(idle, "sample.count") for _ in range(3)]
    keys = QueueKeys(idle.namespace, "sample")
    with redis.Redis.from_url(idle.redis_url) as client:
        client.hset(keys.reserved, "tag-1", "[]")  # as kombu keeps a delivered message

    assert total(url, "taskyard_broker_up") == 1
    assert total(url, "taskyard_queue_length", queue_name="sample") == 3
    assert total(url, "taskyard_queue_reserved", queue_name="sample") == 1
    assert total(url, "taskyard_queue_backlog", queue_name="sample") == 4
    assert total(url, "taskyard_jobs", queue_name="sample", status="queued") == len(jobs)
    assert total(url, "taskyard_queue_backlog", queue_name="other") == 0
    assert total(url, "taskyard_queue_oldest_message_age_seconds", queue_name="other") == 0


def test_oldest_message_age_counts_from_when_it_was_due(idle: Stack) -> None:
    url = idle.queue_exporter("sample")
    submit(idle, "sample.count")
    keys = QueueKeys(idle.namespace, "sample")
    with redis.Redis.from_url(idle.redis_url) as client:
        message = json.loads(client.rpop(keys.queue_list))
        message["headers"]["due_at"] -= 120  # as if it had waited two minutes
        client.rpush(keys.queue_list, json.dumps(message))
    assert 120 <= total(url, "taskyard_queue_oldest_message_age_seconds", queue_name="sample") < 130


def test_jobs_by_status_and_dead_letters_follow_the_ledger(idle: Stack) -> None:
    url = idle.queue_exporter("sample")
    first, second = submit(idle, "sample.count"), submit(idle, "sample.count")
    keys = QueueKeys(idle.namespace, "sample")
    with redis.Redis.from_url(idle.redis_url, decode_responses=True) as client:
        ledger = WorkerLedger(client, keys, finished_ttl=60)
        ledger.begin(first.id)
        ledger.begin(second.id)
        assert total(url, "taskyard_jobs", queue_name="sample", status="running") == 2
        ledger.fail(first.id, "ValueError: broken", dead_letter=True)
        ledger.succeed(second.id, None)

    assert total(url, "taskyard_jobs", queue_name="sample", status="running") == 0
    assert total(url, "taskyard_jobs", queue_name="sample", status="queued") == 0
    assert total(url, "taskyard_dead_letters", queue_name="sample") == 1
    for status in ("failed", "succeeded"):
        finished = total(url, "taskyard_jobs_finished_total", queue_name="sample", status=status)
        assert finished == 1, status


def test_counts_the_workers_consuming(idle: Stack) -> None:
    url = idle.queue_exporter("sample")
    assert total(url, "taskyard_queue_consumers", queue_name="sample") == 0
    worker = idle.worker("sample", app="tests.sample_app")
    assert total(url, "taskyard_queue_consumers", queue_name="sample") == 1
    job = submit(idle, "sample.count")
    wait_status(idle, "sample", job.id, JobStatus.succeeded)
    assert total(url, "taskyard_jobs_finished_total", queue_name="sample", status="succeeded") == 1

    worker.stop()
    wait_until(
        lambda: total(url, "taskyard_queue_consumers", queue_name="sample") == 0,
        timeout=30,
        what="the stopped worker to leave the consumers",
    )


def test_says_when_it_cannot_read_redis(sqlite_url, tmp_path) -> None:
    server = RedisServer(tmp_path).start()  # its own: stopping the shared one would upset others
    stack = Stack(server.url, sqlite_url, tmp_path)
    try:
        url = stack.queue_exporter("sample")
        assert total(url, "taskyard_broker_up") == 1
        server.stop()
        assert total(url, "taskyard_broker_up") == 0
        assert total(url, "taskyard_queue_backlog") == 0
    finally:
        stack.stop()
        server.stop()


def test_stops_cleanly_on_sigterm(idle: Stack) -> None:
    """As a container's PID 1 it gets no default SIGTERM action: it must exit on its own."""
    idle.queue_exporter("sample")
    exporter = idle.processes[-1]
    exporter.stop(timeout=5)
    assert exporter.popen is not None
    assert exporter.popen.returncode == 0
