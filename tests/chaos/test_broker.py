"""The broker as a fault: killed with kill -9 and restarted from its AOF, gone for a while,
out of memory."""

import time

import httpx
import pytest

from services.common.jobs.keys import QueueKeys
from tests.conftest import RedisServer
from tests.processes import wait_until
from tests.stack import ALPHA, QUEUES, Stack, upload_dataset, wait_for_job

# A job a dead broker orphaned mid-run is redelivered after the visibility timeout: short here.
SHORT_VISIBILITY = {
    "TASKYARD_VISIBILITY_TIMEOUT": "20",
    "TASKYARD_TASK_TIME_LIMIT": "15",
    "TASKYARD_TASK_SOFT_TIME_LIMIT": "10",
    "TASKYARD_RETRY_BACKOFF_MAX_SECONDS": "5",
}


def tiny_dataset(api: httpx.Client, number: int) -> httpx.Response:
    records = [{"n": number, "row": row} for row in range(50)]
    return api.post(
        "/ingest/datasets", json={"name": f"d{number}", "records": records}, headers=ALPHA
    )


def require_persistence(server: RedisServer) -> None:
    with server.client() as admin:
        settings = {**admin.config_get("appendonly"), **admin.config_get("appendfsync")}
    assert settings["appendonly"] == "yes", (
        "the broker runs WITHOUT persistence (appendonly no): a restart loses every accepted job"
    )
    assert settings["appendfsync"] == "always", "this test counts on no write being lost"


def assert_each_stored_once(api: httpx.Client, answers: list[httpx.Response]) -> None:
    for number, answer in enumerate(answers):
        dataset = wait_for_job(api, answer.headers["Location"], ALPHA, timeout=150)
        assert dataset["status"] == "succeeded", dataset
        page = api.get(
            f"{answer.headers['Location']}/records", params={"limit": 100}, headers=ALPHA
        )
        assert page.status_code == 200, page.text
        rows = [record["values"] for record in page.json()["items"]]
        assert sorted(row["row"] for row in rows) == list(range(50))  # each row once
        assert {row["n"] for row in rows} == {number}


@pytest.mark.timeout(180)
def test_every_job_waiting_at_a_kill_9_survives_the_restart_and_completes(
    stack_on, own_redis
) -> None:
    require_persistence(own_redis)
    stack = stack_on(own_redis.url, **SHORT_VISIBILITY)
    stack.api("ingest")
    with httpx.Client(base_url=stack.gateway(ingest=stack.apis["ingest"]), timeout=10) as api:
        answers = [tiny_dataset(api, number) for number in range(40)]
        own_redis.kill()  # no shutdown, no last write
        assert [answer.status_code for answer in answers] == [202] * 40
        own_redis.start()
        stack.worker("ingest")
        assert_each_stored_once(api, answers)


def succeeded(server: RedisServer, stack: Stack) -> int:
    with server.client() as client:
        return int(
            client.hget(QueueKeys(stack.namespace, "ingest").status_counts, "succeeded") or 0
        )


@pytest.mark.timeout(300)
def test_every_job_accepted_survives_kill_9s_while_a_worker_consumes(stack_on, own_redis) -> None:
    """Jobs waiting, popped, running and being acknowledged when redis-server dies: those
    running come back after the visibility timeout, a pop in flight after the grace."""
    require_persistence(own_redis)
    stack = stack_on(own_redis.url, **SHORT_VISIBILITY, TASKYARD_INFLIGHT_GRACE_SECONDS="2")
    stack.api("ingest")
    with httpx.Client(base_url=stack.gateway(ingest=stack.apis["ingest"]), timeout=10) as api:
        answers = [tiny_dataset(api, number) for number in range(40)]
        assert [answer.status_code for answer in answers] == [202] * 40
        stack.worker("ingest")
        done_at_kills = []
        for target in (3, 15, 27):
            wait_until(
                lambda done=target: succeeded(own_redis, stack) >= done,
                timeout=120,
                what=f"{target} jobs done",
            )
            done_at_kills.append(succeeded(own_redis, stack))
            own_redis.kill()
            own_redis.start()
        assert max(done_at_kills) < 40, done_at_kills  # each kill while jobs remained
        assert_each_stored_once(api, answers)


def canaries(api: httpx.Client, dataset_id: str) -> dict[str, httpx.Response]:
    """One job per queue."""
    mail = {"to": ["ops@example.com"], "template": "welcome", "variables": {"name": "C"}}
    spec = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
    return {
        "ingest": tiny_dataset(api, 0),
        "email": api.post("/email/messages", json=mail, headers=ALPHA),
        "reports": api.post("/reports", json=spec, headers=ALPHA),
    }


@pytest.mark.timeout(240)
def test_an_unreachable_broker_is_a_fast_503_and_workers_consume_again_without_restart(
    stack_on, own_redis, smtp_server
) -> None:
    stack = stack_on(own_redis.url, SMTP_URL=smtp_server.url)
    workers = {queue: stack.worker(queue) for queue in QUEUES}
    for queue in QUEUES:
        stack.api(queue)
    with httpx.Client(base_url=stack.gateway(**stack.apis), timeout=3) as api:
        dataset_id = upload_dataset(api, "before", 20)
        own_redis.stop()

        for _ in range(3):  # the client's 3 s timeout fails a hang rather than waiting on it
            started = time.monotonic()
            refused = tiny_dataset(api, 1)
            assert time.monotonic() - started < 1.0
            assert refused.status_code == 503
            assert refused.headers["Content-Type"] == "application/problem+json"
            assert int(refused.headers["Retry-After"]) > 0
            started = time.monotonic()
            assert api.get("/ingest/healthz").status_code == 200  # liveness does no I/O
            assert time.monotonic() - started < 1.0
        assert api.get("/ingest/readyz").status_code == 503
        time.sleep(5)  # long enough for every worker to notice and start reconnecting

        own_redis.start()
        back = time.monotonic()
        wait_until(lambda: api.get("/ingest/readyz").status_code == 200, timeout=10, what="ready")
        jobs = canaries(api, dataset_id)
        for queue, response in jobs.items():
            assert response.status_code == 202, (queue, response.text)
            view = wait_for_job(api, response.headers["Location"], ALPHA, timeout=45)
            assert view["status"] == "succeeded", (queue, view)
        assert time.monotonic() - back < 30, "workers took over 30 s to consume again"
        for queue, worker in workers.items():  # the same processes: nobody restarted them
            assert worker.popen is not None
            assert worker.popen.poll() is None, f"the {queue} worker exited"


def test_a_broker_out_of_memory_refuses_with_503_and_is_not_ready(stack_on, own_redis) -> None:
    stack = stack_on(own_redis.url)
    with httpx.Client(base_url=stack.api("ingest"), timeout=3) as api, own_redis.client() as admin:
        admin.config_set("maxmemory", "1")
        try:
            refused = api.post(
                "/datasets", json={"name": "x", "records": [{"a": 1}]}, headers=ALPHA
            )
            assert refused.status_code == 503
            assert "Retry-After" in refused.headers
            assert api.get("/readyz").status_code == 503
        finally:
            admin.config_set("maxmemory", "0")
        assert api.get("/readyz").status_code == 200
