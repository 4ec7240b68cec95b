"""Worker children SIGKILLed mid-job, again and again, under a stream of jobs: every accepted
job succeeds, and every effect happens exactly once."""

import os
import queue
import signal
import threading

import httpx
import pytest

from tests.processes import Process, children, wait_until
from tests.stack import ALPHA, csv_body, wait_for_job

ROWS = 20_000
DATASETS = 3
KILLS = 6
# Enough attempts that a job survives every kill that may land on it.
MANY_ATTEMPTS = {"TASKYARD_MAX_ATTEMPTS": str(KILLS + 2)}


def kill_pool(worker: Process) -> int:
    """SIGKILL every pool child of ``worker`` (one of them runs the job); how many died."""
    pids = children(worker.pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return len(pids)


def stored_lines(api: httpx.Client, dataset: str) -> list[int]:
    lines, cursor = [], 0
    while cursor is not None:
        page = api.get(
            f"{dataset}/records", params={"cursor": cursor, "limit": 1000}, headers=ALPHA
        ).json()
        lines += [item["line"] for item in page["items"]]
        cursor = page["next_cursor"]
    return lines


@pytest.mark.timeout(300)
def test_rows_are_stored_exactly_once_through_repeated_kills(stack_on, redis_server, database_url):
    stack = stack_on(
        redis_server.url,
        database_url,
        TASKYARD_INGEST_CHUNK_BYTES="4096",
        TASKYARD_INGEST_BATCH_SIZE="100",
        **MANY_ATTEMPTS,
    )
    worker = stack.worker("ingest")
    with httpx.Client(base_url=stack.api("ingest"), timeout=10) as api:
        datasets = []
        for number in range(DATASETS):
            response = api.post(
                "/datasets",
                params={"name": f"big-{number}"},
                content=csv_body(ROWS),
                headers={**ALPHA, "Content-Type": "text/csv"},
            )
            assert response.status_code == 202
            datasets.append(f"/datasets/{response.json()['id']}")

        def running() -> bool:
            return any(api.get(d, headers=ALPHA).json()["status"] == "running" for d in datasets)

        for _ in range(KILLS):
            wait_until(lambda: len(children(worker.pid)) == 2, timeout=30, what="a full pool")
            wait_until(running, timeout=60, what="a load under way")
            wait_until(lambda: kill_pool(worker) > 0, timeout=30, what="a pool child to kill")

        for dataset in datasets:
            view = wait_for_job(api, dataset, ALPHA, timeout=180)
            assert view["status"] == "succeeded", view
            assert view["counts"] == {"total": ROWS, "accepted": ROWS, "rejected": 0}
            assert stored_lines(api, dataset) == list(range(2, ROWS + 2))  # each row once
        attempts = sum(api.get(d, headers=ALPHA).json()["attempts"] for d in datasets)
        assert attempts > DATASETS, "no kill landed on a running load"


@pytest.mark.timeout(180)
def test_mail_is_sent_exactly_once_through_repeated_kills(stack_on, redis_server, smtp_server):
    """The relay holds every DATA for a while; each kill lands while it holds one, so the
    message was sent but not accepted, and must be sent again, once."""
    stack = stack_on(redis_server.url, SMTP_URL=smtp_server.url, **MANY_ATTEMPTS)
    worker = stack.worker("email", concurrency=1)  # so that the one child killed is the holder
    handler = smtp_server.handler
    handler.hold_seconds = 0.3
    try:
        with httpx.Client(base_url=stack.api("email"), timeout=10) as api:
            killer = threading.Thread(target=kill_while_held, args=(worker, handler.held))
            killer.start()
            answers = [
                api.post(
                    "/messages",
                    json={
                        "to": [f"user{n}@example.com"],
                        "template": "welcome",
                        "variables": {"name": f"U{n}"},
                    },
                    headers=ALPHA,
                )
                for n in range(12)
            ]
            killer.join()
            views = [
                wait_for_job(api, a.headers["Location"].removeprefix("/email"), ALPHA)
                for a in answers
            ]
    finally:
        handler.hold_seconds = 0.0
    assert [view["status"] for view in views] == ["succeeded"] * 12
    assert sum(view["attempts"] for view in views) == 12 + KILLS  # each kill cost one run
    for view in views:
        assert len(smtp_server.messages(view["delivery"]["message_id"])) == 1


def kill_while_held(worker: Process, held: "queue.Queue[object]") -> None:
    for _ in range(KILLS):
        held.get(timeout=60)  # a message is in the relay's hands, not yet accepted
        kill_pool(worker)
        while not held.empty():  # only a hold that begins after this kill counts
            held.get_nowait()
