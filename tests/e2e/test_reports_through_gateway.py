"""Black-box: ingest, report with progress over SSE, download, all through the gateway."""

import json

from tests.stack import ALPHA, csv_body, wait_for_job


def test_a_report_streams_its_progress_through_the_gateway_and_downloads(gateway) -> None:
    upload = gateway.post(
        "/ingest/datasets",
        params={"name": "e2e", "columns": "amount:number"},
        content=csv_body(3000),
        headers={**ALPHA, "Content-Type": "text/csv"},
    )
    dataset = wait_for_job(gateway, upload.headers["Location"], ALPHA)
    spec = {
        "dataset_id": dataset["id"],
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
