"""Faults with real processes: a worker killed mid-job, and the broker going away."""

import os
import signal

import httpx
import pytest

from tests.conftest import RedisServer
from tests.processes import children, wait_until
from tests.stack import ALPHA, Stack, csv_body, wait_for_job

ROWS = 60_000


@pytest.fixture
def api(ingest_stack) -> httpx.Client:
    with httpx.Client(base_url=ingest_stack.ingest_url, timeout=10) as client:
        yield client


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_job_still_stores_every_row_exactly_once(ingest_stack, api) -> None:
    response = api.post(
        "/datasets",
        params={"name": "big"},
        content=csv_body(ROWS),
        headers={**ALPHA, "Content-Type": "text/csv"},
    )
    assert response.status_code == 202
    dataset = f"/datasets/{response.json()['id']}"

    def midway() -> bool:
        view = api.get(dataset, headers=ALPHA).json()
        assert view["status"] != "succeeded", "finished before it could be killed"
        return 0 < view["progress"] < 0.5

    wait_until(midway, timeout=60, what="the load to be under way")
    worker = next(p for p in ingest_stack.processes if "worker" in p.name)
    killed = children(worker.pid)
    assert killed
    for child in killed:  # the pool children, one of which runs the job
        os.kill(child, signal.SIGKILL)

    view = wait_for_job(api, dataset, ALPHA, timeout=120)
    assert view["status"] == "succeeded"
    assert view["attempts"] >= 2  # it really ran again
    assert view["counts"] == {"total": ROWS, "accepted": ROWS, "rejected": 0}
    lines, cursor = [], 0
    while cursor is not None:
        page = api.get(
            f"{dataset}/records", params={"cursor": cursor, "limit": 1000}, headers=ALPHA
        ).json()
        lines += [item["line"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert lines == list(range(2, ROWS + 2))  # every row once, none twice, none missing


@pytest.fixture
def lonely_stack(tmp_path, sqlite_url):
    """An API on a redis-server of its own, which the test stops and starts."""
    server = RedisServer(tmp_path).start()
    stack = Stack(server.url, sqlite_url, tmp_path)
    try:
        stack.ingest_url = stack.api("ingest")
        yield stack, server
    finally:
        stack.stop()
        server.stop()


def test_broker_down_is_a_fast_503_and_the_api_recovers(lonely_stack) -> None:
    stack, server = lonely_stack
    # The client's timeout bounds the wait: a hang fails the test rather than slowing it.
    with httpx.Client(base_url=stack.ingest_url, timeout=3) as api:
        check_broker_outage(api, server)


def check_broker_outage(api: httpx.Client, server: RedisServer) -> None:
    def post() -> httpx.Response:
        return api.post("/datasets", json={"name": "x", "records": [{"a": 1}]}, headers=ALPHA)

    assert post().status_code == 202
    server.stop()

    refused = post()
    assert refused.status_code == 503
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert api.get("/readyz").status_code == 503
    assert api.get("/healthz").status_code == 200  # liveness does no I/O

    server.start()
    wait_until(lambda: api.get("/readyz").status_code == 200, timeout=10, what="readiness")
    assert post().status_code == 202


def test_a_broker_out_of_memory_refuses_with_503_and_is_not_ready(lonely_stack) -> None:
    stack, server = lonely_stack
    with httpx.Client(base_url=stack.ingest_url, timeout=3) as api, server.client() as admin:
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
