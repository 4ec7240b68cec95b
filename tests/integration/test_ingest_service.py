"""The ingest API and worker together, on SQLite and PostgreSQL."""

import json

import httpx
import pytest

from tests.stack import ALPHA, OPS, csv_body, wait_for_job

CSV = {"Content-Type": "text/csv"}
PROBLEM = "application/problem+json"


@pytest.fixture
def api(ingest_stack) -> httpx.Client:
    with httpx.Client(base_url=ingest_stack.apis["ingest"], timeout=10) as client:
        yield client


def upload(
    api: httpx.Client, body: bytes, name: str = "sales", headers=None, **params
) -> httpx.Response:
    return api.post(
        "/datasets",
        params={"name": name, **params},
        content=body,
        headers={**ALPHA, **CSV, **(headers or {})},
    )


def finished(api: httpx.Client, response: httpx.Response) -> dict:
    assert response.status_code == 202, response.text
    return wait_for_job(api, response.json()["links"]["self"].removeprefix("/ingest"), ALPHA)


def all_records(api: httpx.Client, dataset_id: str, limit: int = 100) -> list[dict]:
    items, cursor = [], 0
    while cursor is not None:
        page = api.get(
            f"/datasets/{dataset_id}/records",
            params={"cursor": cursor, "limit": limit},
            headers=ALPHA,
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
    return items


def test_a_csv_with_every_edge_case_is_stored_row_by_row(api) -> None:
    body = (
        b"\xef\xbb\xbfid,note\r\n"  # BOM and CRLF
        b'1,"two\r\nlines"\r\n'  # a quoted newline
        b"2,plain\r\n"
        b"3\r\n"  # a wrong column count
        b"4,caf\xe9\r\n"  # Latin-1, not UTF-8
        b"5,last\r\n"
    )
    response = upload(api, body)
    assert response.headers["Location"] == f"/ingest/datasets/{response.json()['id']}"
    view = finished(api, response)
    assert view["status"] == "succeeded"
    assert view["counts"] == {"total": 5, "accepted": 3, "rejected": 2}
    assert view["errors"] == [
        {"line": 5, "reason": "expected 2 fields, got 1"},
        {"line": 6, "reason": "invalid UTF-8"},
    ]
    rows = all_records(api, view["id"])
    assert rows == [
        {"line": 2, "values": {"id": "1", "note": "two\r\nlines"}},
        {"line": 4, "values": {"id": "2", "note": "plain"}},
        {"line": 7, "values": {"id": "5", "note": "last"}},
    ]


def test_declared_columns_are_typed_and_checked(api) -> None:
    body = b"id,amount,ok\n1,2.5,yes\nx,3,no\n2,4,maybe\n"
    view = finished(api, upload(api, body, columns="id:integer,amount:number,ok:boolean"))
    assert view["counts"] == {"total": 3, "accepted": 1, "rejected": 2}
    assert [row["values"] for row in all_records(api, view["id"])] == [
        {"id": 1, "amount": 2.5, "ok": True}
    ]
    assert [error["line"] for error in view["errors"]] == [3, 4]


def test_json_batch_and_ndjson_upload(api) -> None:
    batch = {
        "name": "batch",
        "columns": {"n": "integer"},
        "records": [{"n": 1}, {"n": "one"}, {"n": 3, "x": "y"}],
    }
    view = finished(api, api.post("/datasets", json=batch, headers=ALPHA))
    assert view["counts"] == {"total": 3, "accepted": 2, "rejected": 1}
    assert [row["values"] for row in all_records(api, view["id"])] == [{"n": 1}, {"n": 3, "x": "y"}]

    ndjson = b'{"a": 1}\n\nnot json\n{"a": 2}\n'
    headers = {**ALPHA, "Content-Type": "application/x-ndjson"}
    view = finished(
        api, api.post("/datasets", params={"name": "nd"}, content=ndjson, headers=headers)
    )
    assert view["counts"] == {"total": 3, "accepted": 2, "rejected": 1}
    assert view["errors"][0]["line"] == 3


def test_a_large_upload_streams_in_chunks_and_pages_back(api) -> None:
    view = finished(api, upload(api, csv_body(2500)))
    assert view["counts"]["accepted"] == 2500
    assert view["size_bytes"] > 4096 * 10  # many claim-check chunks
    rows = all_records(api, view["id"], limit=1000)
    assert [row["values"]["id"] for row in rows] == [str(i) for i in range(2500)]


def test_a_file_that_cannot_be_read_fails_with_a_clear_error(api) -> None:
    view = finished(api, upload(api, b"id,id\n1,2\n"))
    assert view["status"] == "failed"
    assert "duplicate" in view["error"]
    dead = api.get("/dead-letters", headers=OPS).json()
    assert view["id"] not in {letter["id"] for letter in dead}  # nothing to replay


def test_idempotency_key_gives_the_same_dataset_for_the_same_body(api) -> None:
    first = upload(api, csv_body(3), headers={"Idempotency-Key": "upload-1"})
    again = upload(api, csv_body(3), headers={"Idempotency-Key": "upload-1"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    different = upload(api, csv_body(4), headers={"Idempotency-Key": "upload-1"})
    assert different.status_code == 422
    assert different.headers["Content-Type"] == PROBLEM


@pytest.mark.parametrize(
    ("headers", "params", "body", "status"),
    [
        ({}, {"name": "x"}, b"a\n1\n", 401),
        ({"Authorization": "Bearer wrong"}, {"name": "x"}, b"a\n1\n", 401),
        ({**ALPHA, "Content-Type": "application/xml"}, {"name": "x"}, b"<a/>", 415),
        ({**ALPHA, **CSV}, {}, b"a\n1\n", 422),
        ({**ALPHA, **CSV}, {"name": "x"}, b"", 422),
        ({**ALPHA, **CSV}, {"name": "x", "columns": "a:decimal"}, b"a\n1\n", 422),
        ({**ALPHA, **CSV}, {"name": "bad\nname"}, b"a\n1\n", 422),
        ({**ALPHA, **CSV}, {"name": "x"}, b"a\n" + b"1\n" * (1024 * 1024 + 1), 413),
        ({**ALPHA, "Content-Type": "application/json"}, {}, b"{not json", 422),
        ({**ALPHA, "Content-Type": "application/json"}, {}, b'{"name": "x", "records": []}', 422),
        ({**ALPHA, "Content-Type": "application/json"}, {}, b'{"name": "x", "records": [1]}', 422),
    ],
)
def test_bad_requests_are_clear_problems(api, headers, params, body, status) -> None:
    response = api.post("/datasets", params=params, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert problem["request_id"] == response.headers["X-Request-ID"]


def test_validation_problems_never_echo_the_input(api) -> None:
    secret = "s3cret-value-xyz"
    body = json.dumps({"name": "x", "records": [secret]}).encode()
    response = api.post(
        "/datasets", content=body, headers={**ALPHA, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert secret not in response.text


def test_unknown_ids_and_routes_are_404_problems(api) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in [
        f"/datasets/{unknown}",
        "/jobs/nope",
        f"/datasets/{unknown}/records",
        "/no-such-route",
    ]:
        response = api.get(path, headers=ALPHA)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == PROBLEM
    for malformed in ["/datasets/nope", "/datasets/%00", "/datasets/a%00b/records"]:
        assert api.get(malformed, headers=ALPHA).status_code == 422


def test_cancel_after_success_is_a_conflict(api) -> None:
    view = finished(api, upload(api, csv_body(1)))
    response = api.delete(f"/datasets/{view['id']}", headers=ALPHA)
    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]


def test_events_stream_ends_with_the_final_state(api) -> None:
    dataset_id = upload(api, csv_body(50)).json()["id"]
    events = []
    with api.stream("GET", f"/datasets/{dataset_id}/events", headers=ALPHA) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
    assert events[-1]["status"] == "succeeded"
    assert [event["progress"] for event in events] == sorted(event["progress"] for event in events)


def test_the_request_id_reaches_the_worker_log(api, ingest_stack) -> None:
    response = upload(api, csv_body(1), headers={"X-Request-ID": "trace-me-123"})
    assert response.headers["X-Request-ID"] == "trace-me-123"
    finished(api, response)
    worker = next(p for p in ingest_stack.processes if "worker" in p.name)
    lines = [json.loads(line) for line in worker.output().splitlines() if "trace-me-123" in line]
    assert lines
    assert all(
        line["job_id"] == response.json()["id"] and line["service"] == "ingest" for line in lines
    )


def test_health_and_readiness(api) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    assert "http_requests_total" in api.get("/metrics").text
