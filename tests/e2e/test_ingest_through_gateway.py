"""Black-box: a client with only the gateway URL and an API key."""

import json

from tests.stack import ALPHA, OPS, csv_body, wait_for_job

CSV = {**ALPHA, "Content-Type": "text/csv"}


def test_upload_a_csv_follow_it_and_read_the_rows_back(gateway) -> None:
    response = gateway.post(
        "/ingest/datasets", params={"name": "sales"}, content=csv_body(120), headers=CSV
    )
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith("/ingest/datasets/")

    view = wait_for_job(gateway, location, ALPHA)
    assert view["status"] == "succeeded"
    assert view["counts"] == {"total": 120, "accepted": 120, "rejected": 0}

    page = gateway.get(view["links"]["records"], params={"limit": 100}, headers=ALPHA).json()
    assert len(page["items"]) == 100
    rest = gateway.get(
        view["links"]["records"], params={"cursor": page["next_cursor"]}, headers=ALPHA
    ).json()
    assert [item["values"]["id"] for item in page["items"] + rest["items"]] == [
        str(i) for i in range(120)
    ]
    assert rest["next_cursor"] is None


def test_a_bad_file_is_reported_row_by_row(gateway) -> None:
    body = b"id,amount\n1,10\n2\n3,x\n4,40\n"
    response = gateway.post(
        "/ingest/datasets",
        params={"name": "bad", "columns": "id:integer,amount:integer"},
        content=body,
        headers=CSV,
    )
    view = wait_for_job(gateway, response.headers["Location"], ALPHA)
    assert view["status"] == "succeeded"
    assert view["counts"] == {"total": 4, "accepted": 2, "rejected": 2}
    assert [error["line"] for error in view["errors"]] == [3, 4]


def test_an_unreadable_file_fails_the_job_with_its_reason(gateway) -> None:
    response = gateway.post(
        "/ingest/datasets", params={"name": "dup"}, content=b"a,a\n1,2\n", headers=CSV
    )
    view = wait_for_job(gateway, response.headers["Location"], ALPHA)
    assert view["status"] == "failed"
    assert "duplicate" in view["error"]


def test_events_stream_through_the_gateway(gateway) -> None:
    response = gateway.post(
        "/ingest/datasets", params={"name": "sse"}, content=csv_body(500), headers=CSV
    )
    events = []
    with gateway.stream("GET", response.json()["links"]["events"], headers=ALPHA) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
    assert events[0]["id"] == response.json()["id"]
    assert events[-1]["status"] == "succeeded"


def test_docs_and_openapi_work_behind_the_prefix(gateway) -> None:
    docs = gateway.get("/ingest/docs")
    assert docs.status_code == 200
    assert "/ingest/openapi.json" in docs.text
    schema = gateway.get("/ingest/openapi.json").json()
    assert "/datasets" in schema["paths"]
    assert schema["servers"] == [{"url": "/ingest"}]


def test_request_id_round_trip_and_security_headers(gateway) -> None:
    response = gateway.get("/ingest/jobs/missing", headers={**ALPHA, "X-Request-ID": "client-id-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "client-id-1"
    assert response.json()["request_id"] == "client-id-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "server" not in response.headers


def test_a_body_over_the_limit_is_refused_at_the_edge(gateway) -> None:
    response = gateway.post("/ingest/jobs/x", content=b"x" * (2 * 1024 * 1024), headers=ALPHA)
    assert response.status_code == 413


def test_api_metrics_and_admin_check_are_not_public_through_the_gateway(gateway) -> None:
    for service in ("ingest", "email", "reports"):
        assert gateway.get(f"/{service}/metrics").status_code == 404
        assert gateway.get(f"/{service}/auth/admin", headers=OPS).status_code == 404
    assert gateway.get("/ingest/healthz").status_code == 200
