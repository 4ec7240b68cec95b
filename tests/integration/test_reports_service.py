"""Reports over data ingested in the same test, on SQLite and PostgreSQL."""

import csv
import io
import json
import statistics
from datetime import timedelta

import httpx
import pytest
import redis

from services.common.jobs.keys import QueueKeys
from services.common.jobs.message import task_message
from services.common.jobs.model import utcnow
from tests.jobs import read_job
from tests.processes import wait_until
from tests.stack import ALPHA, Stack, wait_for_job

CITIES = ["Oslo", "Lima", "Rio", "Kyiv"]


def sales(rows: int) -> list[dict]:
    return [
        {"city": CITIES[i % 4], "kind": "ab"[i % 2], "amount": (i * 7) % 50 + 0.5}
        for i in range(rows)
    ]


@pytest.fixture
def client(reports_stack) -> httpx.Client:
    with httpx.Client(timeout=10) as client:
        yield client


def ingest(stack: Stack, client: httpx.Client, rows: list[dict]) -> str:
    body = io.StringIO()
    writer = csv.DictWriter(body, fieldnames=["city", "kind", "amount"])
    writer.writeheader()
    writer.writerows(rows)
    response = client.post(
        f"{stack.apis['ingest']}/datasets",
        params={"name": "sales", "columns": "amount:number"},
        content=body.getvalue().encode(),
        headers={**ALPHA, "Content-Type": "text/csv"},
    )
    view = wait_for_job(client, f"{stack.apis['ingest']}/datasets/{response.json()['id']}", ALPHA)
    assert view["status"] == "succeeded"
    return view["id"]


@pytest.fixture(scope="module")
def dataset(reports_stack) -> tuple[str, list[dict]]:
    rows = sales(2000)
    with httpx.Client(timeout=10) as client:
        return ingest(reports_stack, client, rows), rows


def report(stack: Stack, client: httpx.Client, spec: dict, headers=ALPHA) -> httpx.Response:
    return client.post(f"{stack.apis['reports']}/", json=spec, headers=headers)


def finished(stack: Stack, client: httpx.Client, response: httpx.Response) -> dict:
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/reports/{response.json()['id']}"
    return wait_for_job(client, f"{stack.apis['reports']}/{response.json()['id']}", ALPHA)


def download(stack: Stack, client: httpx.Client, report_id: str) -> httpx.Response:
    return client.get(f"{stack.apis['reports']}/{report_id}/download", headers=ALPHA)


def test_aggregates_match_what_the_test_computes(reports_stack, client, dataset) -> None:
    dataset_id, rows = dataset
    spec = {
        "dataset_id": dataset_id,
        "group_by": ["city", "kind"],
        "metrics": [
            {"op": "count"},
            {"op": "sum", "field": "amount"},
            {"op": "avg", "field": "amount"},
            {"op": "min", "field": "amount"},
            {"op": "max", "field": "amount"},
        ],
        "filters": [{"field": "amount", "op": "gte", "value": 3}],
        "format": "json",
    }
    view = finished(reports_stack, client, report(reports_stack, client, spec))
    assert view["status"] == "succeeded"
    got = {
        (row["city"], row["kind"]): row
        for row in download(reports_stack, client, view["id"]).json()["rows"]
    }

    kept = [row for row in rows if row["amount"] >= 3]
    expected = {}
    for key in {(row["city"], row["kind"]) for row in kept}:
        amounts = [row["amount"] for row in kept if (row["city"], row["kind"]) == key]
        expected[key] = (
            len(amounts),
            sum(amounts),
            statistics.fmean(amounts),
            min(amounts),
            max(amounts),
        )
    assert set(got) == set(expected)
    for key, (count, total, mean, low, high) in expected.items():
        row = got[key]
        assert row["count(*)"] == count
        assert row["sum(amount)"] == pytest.approx(total)
        assert row["avg(amount)"] == pytest.approx(mean)
        assert (row["min(amount)"], row["max(amount)"]) == (low, high)
    assert view["rows"] == len(expected)


def test_html_has_the_table_and_an_svg_chart_and_csv_downloads(
    reports_stack, client, dataset
) -> None:
    spec = {
        "dataset_id": dataset[0],
        "group_by": ["city"],
        "metrics": [{"op": "sum", "field": "amount"}],
    }
    view = finished(reports_stack, client, report(reports_stack, client, spec))
    page = download(reports_stack, client, view["id"])
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Disposition"] == f'attachment; filename="report-{view["id"]}.html"'
    assert '<figure id="chart"><svg' in page.text
    assert "<table>" in page.text
    assert "http" not in page.text.split("<svg", 1)[1].split("xmlns", 1)[0]  # nothing to fetch
    assert page.text.count("<tr>") == 1 + len(CITIES)

    as_csv = finished(
        reports_stack, client, report(reports_stack, client, {**spec, "format": "csv"})
    )
    response = download(reports_stack, client, as_csv["id"])
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.text.splitlines()[0] == "city,sum(amount)"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"dataset_id": "00000000-0000-4000-8000-000000000000"}, "No finished dataset"),
        ({"group_by": ["country"]}, "Unknown field 'country'"),
        ({"metrics": [{"op": "sum", "field": "city"}]}, "needs a numeric field"),
        ({"metrics": [{"op": "median", "field": "amount"}]}, "not valid"),
        ({"metrics": [{"op": "sum"}]}, "not valid"),
        ({"filters": [{"field": "amount", "op": "gt", "value": "many"}]}, "needs a number"),
        ({"notify": "a@example.com\\r\\nBcc: x@example.com"}, "not valid"),
    ],
)
def test_bad_specs_are_422s_that_name_the_problem(
    reports_stack, client, dataset, change, detail
) -> None:
    spec = {"dataset_id": dataset[0], "group_by": ["city"], "metrics": [{"op": "count"}], **change}
    response = report(reports_stack, client, spec)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


def test_notify_sends_the_link_with_the_same_request_id(
    reports_stack, client, dataset, smtp_server
) -> None:
    spec = {
        "dataset_id": dataset[0],
        "group_by": ["city"],
        "metrics": [{"op": "count"}],
        "notify": "boss@example.com",
    }
    response = client.post(
        f"{reports_stack.apis['reports']}/", json=spec, headers={**ALPHA, "X-Request-ID": "rpt-77"}
    )
    view = finished(reports_stack, client, response)
    email_job = view["notify_job_id"]
    assert email_job
    message_id = f"<{email_job}@taskyard.localhost>"
    wait_until(lambda: smtp_server.messages(message_id), timeout=30, what="the notification mail")
    [mail] = smtp_server.messages(message_id)
    assert (
        f"http://gateway.test/reports/{view['id']}/download"
        in mail.get_body(("plain",)).get_content()
    )
    email_worker = next(p for p in reports_stack.processes if p.name.startswith("email-worker"))
    lines = [json.loads(line) for line in email_worker.output().splitlines() if "rpt-77" in line]
    assert lines
    assert all(line["request_id"] == "rpt-77" and line["job_id"] == email_job for line in lines)


def test_cancelling_mid_run_stops_it_without_a_file(reports_stack, client) -> None:
    dataset_id = ingest(reports_stack, client, sales(60_000))
    spec = {
        "dataset_id": dataset_id,
        "group_by": ["city", "kind"],
        "metrics": [{"op": "sum", "field": "amount"}],
    }
    response = report(reports_stack, client, spec)
    url = f"{reports_stack.apis['reports']}/{response.json()['id']}"

    def midway() -> bool:
        view = client.get(url, headers=ALPHA).json()
        assert view["status"] != "succeeded", "finished before it could be cancelled"
        return 0 < view["progress"] < 0.5

    wait_until(midway, timeout=60, what="the report to be under way")
    assert client.delete(url, headers=ALPHA).json()["status"] == "cancelled"
    wait_until(
        lambda: (
            "job cancelled while running"
            in next(
                p for p in reports_stack.processes if p.name.startswith("reports-worker")
            ).output()
        ),
        timeout=30,
        what="the worker to stop",
    )
    assert client.get(f"{url}/download", headers=ALPHA).status_code == 409


def test_a_run_at_past_the_visibility_window_fires_once_through_the_beat(
    reports_stack, client, dataset
) -> None:
    keys = QueueKeys(reports_stack.namespace, "reports")
    spec = {"dataset_id": dataset[0], "group_by": ["kind"], "metrics": [{"op": "count"}]}
    soon = utcnow() + timedelta(seconds=12)  # the window is 60 - 50 = 10 seconds here
    response = report(reports_stack, client, {**spec, "run_at": soon.isoformat()})
    assert response.json()["run_at"] is not None
    with redis_client(reports_stack) as client_:
        assert client_.zcard(keys.delayed) == 1  # parked, not on the queue
    view = wait_for_job(
        client, f"{reports_stack.apis['reports']}/{response.json()['id']}", ALPHA, timeout=60
    )
    assert view["status"] == "succeeded"
    assert view["attempts"] == 1
    assert view["started_at"] >= soon.isoformat().replace("+00:00", "Z")[:19]
    with redis_client(reports_stack) as client_:
        assert client_.zcard(keys.delayed) == 0


def test_a_run_at_within_the_window_is_a_countdown(reports_stack, client, dataset) -> None:
    spec = {"dataset_id": dataset[0], "group_by": ["kind"], "metrics": [{"op": "count"}]}
    soon = utcnow() + timedelta(seconds=2)
    response = report(reports_stack, client, {**spec, "run_at": soon.isoformat()})
    view = wait_for_job(
        client, f"{reports_stack.apis['reports']}/{response.json()['id']}", ALPHA, timeout=30
    )
    assert view["status"] == "succeeded"
    assert view["started_at"] >= soon.isoformat().replace("+00:00", "Z")[:19]


def test_a_report_run_twice_stores_one_result_and_sends_one_mail(
    reports_stack, client, dataset, smtp_server
) -> None:
    spec = {
        "dataset_id": dataset[0],
        "group_by": ["kind"],
        "metrics": [{"op": "count"}],
        "notify": "twice@example.com",
    }
    view = finished(reports_stack, client, report(reports_stack, client, spec))
    keys = QueueKeys(reports_stack.namespace, "reports")
    # As if the worker died after storing the file but before marking the job done.
    with redis_client(reports_stack) as client_:
        client_.hset(keys.job(view["id"]), "status", "running")
        job = read_job(reports_stack, "reports", view["id"])
        client_.lpush(keys.queue_list, task_message(keys, job))
    again = wait_for_job(client, f"{reports_stack.apis['reports']}/{view['id']}", ALPHA)
    assert again["attempts"] == 2
    assert again["notify_job_id"] == view["notify_job_id"]  # the same email job, not a second
    message_id = f"<{view['notify_job_id']}@taskyard.localhost>"
    wait_until(lambda: smtp_server.messages(message_id), timeout=30, what="the mail")
    assert len(smtp_server.messages(message_id)) == 1
    assert download(reports_stack, client, view["id"]).status_code == 200


def redis_client(stack: Stack) -> redis.Redis:
    return redis.Redis.from_url(stack.redis_url, decode_responses=True)
