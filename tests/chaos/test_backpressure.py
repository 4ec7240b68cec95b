"""Backpressure: a queue past its backlog limit refuses new jobs instead of growing Redis
without bound, and accepts them again once its workers catch up."""

import httpx

from tests.stack import ALPHA, wait_for_job

LIMIT = 5


def test_a_full_queue_answers_429_and_accepts_again_once_it_drains(stack_on, redis_server) -> None:
    stack = stack_on(redis_server.url, TASKYARD_MAX_BACKLOG=str(LIMIT))
    with httpx.Client(base_url=stack.api("ingest"), timeout=5) as api:

        def submit() -> httpx.Response:
            return api.post("/datasets", json={"name": "n", "records": [{"a": 1}]}, headers=ALPHA)

        accepted = [submit() for _ in range(LIMIT)]  # no worker yet: they all wait
        assert [response.status_code for response in accepted] == [202] * LIMIT

        refused = submit()
        assert refused.status_code == 429
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        assert f"limit of {LIMIT} waiting jobs" in refused.json()["detail"]
        assert api.get("/readyz").status_code == 200  # full is not down

        stack.worker("ingest")
        for response in accepted:  # nothing accepted was lost to the refusal
            assert (
                wait_for_job(api, response.headers["Location"].removeprefix("/ingest"), ALPHA)[
                    "status"
                ]
                == "succeeded"
            )
        assert submit().status_code == 202
