"""Tenants are walled off, through the real gateway and in all three services: tenant beta gets
for alpha's jobs, datasets, records, reports and schedules exactly what it gets for ids nobody
has (404, so existence does not leak), and changes nothing; an admin key reaches them.

Every route of every app is accounted for below, so a new route fails here until someone
decides what it shows to whom; each route with a path parameter is tried with alpha's ids.
"""

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from services.email.api import create_app as email_app
from services.ingest.api import create_app as ingest_app
from services.reports.api import create_app as reports_app
from tests.smtp import SmtpServer
from tests.stack import ALPHA, BETA, OPS, QUEUES, upload_dataset, wait_for_job

APPS = {"ingest": ingest_app, "email": email_app, "reports": reports_app}
MAIL = {"to": ["ann@example.com"], "template": "welcome", "variables": {"name": "Ann"}}
CRON = "0 0 1 1 *"
# Same request id for both of beta's tries, so that their answers can be compared whole.
AS_BETA = {**BETA, "X-Request-ID": "tenant-wall"}

# Each route with a path parameter: (service, method, path) -> the kind of alpha's thing it is
# tried on, beta's status, the admin's status. Beta's 403s are the admin-only routes', the
# same for every id. Each route that changes a thing has a thing of its own.
TRIED = {
    ("ingest", "GET", "/jobs/{job_id}"): ("dataset", 404, 200),
    ("ingest", "GET", "/jobs/{job_id}/events"): ("dataset", 404, 200),
    ("ingest", "DELETE", "/jobs/{job_id}"): ("dataset", 404, 409),  # finished: no cancelling
    ("ingest", "POST", "/dead-letters/{job_id}/replay"): ("dataset", 403, 404),  # not dead
    ("ingest", "GET", "/datasets/{dataset_id}"): ("dataset", 404, 200),
    ("ingest", "GET", "/datasets/{dataset_id}/records"): ("dataset", 404, 200),
    ("ingest", "GET", "/datasets/{dataset_id}/events"): ("dataset", 404, 200),
    ("ingest", "DELETE", "/datasets/{dataset_id}"): ("dataset", 404, 409),
    ("email", "GET", "/jobs/{job_id}"): ("message", 404, 200),
    ("email", "GET", "/jobs/{job_id}/events"): ("message", 404, 200),
    ("email", "DELETE", "/jobs/{job_id}"): ("message", 404, 409),
    ("email", "POST", "/dead-letters/{job_id}/replay"): ("dead letter", 403, 202),
    ("email", "GET", "/messages/{message_id}"): ("message", 404, 200),
    ("email", "GET", "/messages/{message_id}/events"): ("message", 404, 200),
    ("email", "DELETE", "/messages/{message_id}"): ("message", 404, 409),
    ("reports", "GET", "/jobs/{job_id}"): ("report", 404, 200),
    ("reports", "GET", "/jobs/{job_id}/events"): ("report", 404, 200),
    ("reports", "DELETE", "/jobs/{job_id}"): ("queued report", 404, 200),
    ("reports", "POST", "/dead-letters/{job_id}/replay"): ("report", 403, 404),
    ("reports", "GET", "/{report_id}"): ("report", 404, 200),
    ("reports", "GET", "/{report_id}/events"): ("report", 404, 200),
    ("reports", "DELETE", "/{report_id}"): ("later report", 404, 200),
    ("reports", "GET", "/{report_id}/download"): ("report", 404, 200),
    ("reports", "GET", "/schedules/{schedule_id}"): ("schedule", 404, 200),
    ("reports", "DELETE", "/schedules/{schedule_id}"): ("later schedule", 404, 204),
}
# Where alpha reads each kind of thing, to see that beta changed nothing.
VIEWS = {
    "dataset": "/ingest/datasets/{}",
    "message": "/email/messages/{}",
    "dead letter": "/email/messages/{}",
    "report": "/reports/{}",
    "queued report": "/reports/{}",
    "later report": "/reports/{}",
    "schedule": "/reports/schedules/{}",
    "later schedule": "/reports/schedules/{}",
}
# GET routes that hold nobody's data.
UNSCOPED = {"/healthz", "/readyz", "/metrics", "/auth/admin"}
UNSCOPED |= {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# Routes every tenant may call, on what it sends: the caller's own new job (the reports ones
# name a dataset, tried below with alpha's), or every tenant's failed jobs for admins only.
OTHERS = {
    "ingest": {("POST", "/datasets"), ("GET", "/dead-letters")},
    "email": {("POST", "/messages"), ("GET", "/dead-letters")},
    "reports": {("POST", "/"), ("POST", "/schedules"), ("GET", "/dead-letters")},
}


def test_every_route_is_accounted_for() -> None:
    routes = {
        (service, method, context.path)
        for service, create_app in APPS.items()
        for context in iter_route_contexts(create_app().routes)
        for method in context.methods or ()
        if method != "HEAD"  # GET's twin
    }
    expected = set(TRIED)
    for service in APPS:
        expected |= {(service, "GET", path) for path in UNSCOPED}
        expected |= {(service, method, path) for method, path in OTHERS[service]}
    assert routes == expected


@pytest.fixture(scope="module")
def alpha(gateway: httpx.Client, smtp_server: SmtpServer) -> Iterator[dict[str, str]]:
    """One of each kind of thing tenant alpha owns: kind -> id."""
    dataset = upload_dataset(gateway, "walled", 10)
    spec = {"dataset_id": dataset, "group_by": ["city"], "metrics": [{"op": "count"}]}
    later = {**spec, "run_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    things = {
        "dataset": dataset,
        "report": finished(gateway, "/reports", spec, "succeeded"),
        "queued report": submitted(gateway, "/reports", later),
        "later report": submitted(gateway, "/reports", later),
        "message": finished(gateway, "/email/messages", MAIL, "succeeded"),
        "schedule": submitted(gateway, "/reports/schedules", {**spec, "cron": CRON}),
        "later schedule": submitted(gateway, "/reports/schedules", {**spec, "cron": CRON}),
    }
    for kind in ("dead letter", "listed dead letter"):
        smtp_server.handler.replies.append("550 5.1.1 no such user")
        things[kind] = finished(gateway, "/email/messages", MAIL, "failed")
    yield things
    for kind in ("schedule", "later schedule"):  # a deleted one answers 404: fine
        gateway.delete(f"/reports/schedules/{things[kind]}", headers=ALPHA)


def submitted(gateway: httpx.Client, path: str, body: dict) -> str:
    response = gateway.post(path, json=body, headers=ALPHA)
    assert response.status_code in (201, 202), response.text
    return str(response.json()["id"])


def finished(gateway: httpx.Client, path: str, body: dict, status: str) -> str:
    response = gateway.post(path, json=body, headers=ALPHA)
    job = wait_for_job(gateway, response.headers["Location"], ALPHA)
    assert job["status"] == status, job
    return str(job["id"])


def call(
    gateway: httpx.Client, headers: dict[str, str], key: tuple[str, str, str], thing_id: str
) -> httpx.Response:
    service, method, path = key
    url = f"/{service}{re.sub(r'{[a-z_]+}', thing_id, path)}"
    return gateway.request(method, url, headers=headers)


@pytest.mark.parametrize("key", sorted(TRIED), ids=" ".join)
def test_another_tenants_thing_is_as_good_as_missing(
    gateway: httpx.Client, alpha: dict[str, str], key: tuple[str, str, str]
) -> None:
    kind, beta_status, admin_status = TRIED[key]
    thing_id, missing_id = alpha[kind], str(uuid.uuid4())
    view = VIEWS[kind].format(thing_id)
    before = gateway.get(view, headers=ALPHA).json()

    foreign = call(gateway, AS_BETA, key, thing_id)
    missing = call(gateway, AS_BETA, key, missing_id)

    assert foreign.status_code == beta_status, foreign.text
    assert foreign.text.replace(thing_id, "?") == missing.text.replace(missing_id, "?")
    assert gateway.get(view, headers=ALPHA).json() == before
    assert call(gateway, OPS, key, thing_id).status_code == admin_status


@pytest.mark.parametrize("path", ["/reports", "/reports/schedules"])
def test_another_tenants_dataset_cannot_be_reported_on(
    gateway: httpx.Client, alpha: dict[str, str], path: str
) -> None:
    def spec(dataset_id: str) -> dict:
        body = {"dataset_id": dataset_id, "group_by": ["city"], "metrics": [{"op": "count"}]}
        return body | ({"cron": CRON} if path.endswith("schedules") else {})

    missing_id = str(uuid.uuid4())
    foreign = gateway.post(path, json=spec(alpha["dataset"]), headers=AS_BETA)
    missing = gateway.post(path, json=spec(missing_id), headers=AS_BETA)
    admin = gateway.post(path, json=spec(alpha["dataset"]), headers=OPS)

    assert foreign.status_code == 422
    assert foreign.text.replace(alpha["dataset"], "?") == missing.text.replace(missing_id, "?")
    assert admin.status_code in (201, 202), admin.text
    if path.endswith("schedules"):
        gateway.delete(f"{path}/{admin.json()['id']}", headers=OPS)


def test_only_admins_list_the_dead_letters(gateway: httpx.Client, alpha: dict[str, str]) -> None:
    for service in QUEUES:
        assert gateway.get(f"/{service}/dead-letters", headers=BETA).status_code == 403
        assert gateway.get(f"/{service}/dead-letters", headers=ALPHA).status_code == 403
    listed = gateway.get("/email/dead-letters", params={"limit": 1000}, headers=OPS)
    assert alpha["listed dead letter"] in {job["id"] for job in listed.json()}


def test_an_idempotency_key_is_a_tenants_own(gateway: httpx.Client) -> None:
    key = {"Idempotency-Key": f"wall-{uuid.uuid4()}"}
    first = gateway.post("/email/messages", json=MAIL, headers={**ALPHA, **key})
    second = gateway.post("/email/messages", json=MAIL, headers={**BETA, **key})

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]
