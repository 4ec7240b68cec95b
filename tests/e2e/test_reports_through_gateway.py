"""Black-box: ingest, report with progress over SSE, download, all through the gateway."""

import json
import time

import pytest

from tests.processes import wait_until
from tests.stack import ALPHA, BETA, upload_dataset, wait_for_job


def test_a_report_streams_its_progress_through_the_gateway_and_downloads(gateway) -> None:
    dataset_id = upload_dataset(gateway, "e2e", 3000)
    spec = {
        "dataset_id": dataset_id,
        "group_by": ["city"],
        "metrics": [{"op": "avg", "field": "amount"}],
    }
    response = gateway.post("/reports", json=spec, headers=ALPHA)
    assert response.status_code == 202
    assert response.headers["Location"] == f"/reports/{response.json()['id']}"

    events = []
    with gateway.stream("GET", response.json()["links"]["events"], headers=ALPHA) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert "Content-Encoding" not in stream.headers
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
    assert events[-1]["status"] == "succeeded"
    page = gateway.get(response.json()["links"]["download"], headers=ALPHA)
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "/reports/openapi.json" in gateway.get("/reports/docs").text


@pytest.mark.timeout(180)
def test_a_cron_schedule_fires_once_per_tick_with_two_beats(gateway, e2e_stack) -> None:
    e2e_stack.beat("reports")  # a second replica: RedBeat's lock must keep it from firing too
    dataset_id = upload_dataset(gateway, "cron", 10)
    spec = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
    assert (
        gateway.post(
            "/reports/schedules", json={**spec, "cron": "61 * * * *"}, headers=ALPHA
        ).status_code
        == 422
    )

    created = gateway.post("/reports/schedules", json={**spec, "cron": "* * * * *"}, headers=ALPHA)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert gateway.get(location, headers=BETA).status_code == 404

    def fired() -> bool:
        return bool(gateway.get(location, headers=ALPHA).json()["jobs"])

    wait_until(fired, timeout=90, what="the first tick")  # the next minute boundary
    [job_id] = gateway.get(location, headers=ALPHA).json()["jobs"]
    report = wait_for_job(gateway, f"/reports/{job_id}", ALPHA)
    assert report["status"] == "succeeded"
    time.sleep(3)  # a second beat firing the same tick would have added a job by now
    assert gateway.get(location, headers=ALPHA).json()["jobs"] == [job_id]

    assert gateway.delete(location, headers=ALPHA).status_code == 204
    assert gateway.get(location, headers=ALPHA).status_code == 404
