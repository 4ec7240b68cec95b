"""Schemathesis against every service's OpenAPI document, through the gateway, as tenant alpha.

Every answer must be documented: no 5xx, every status code, content type, header and body as
the document says (errors as problem+json). Besides schemathesis' own cases, each operation
with path parameters is also fuzzed on a real finished resource, so that the views of what
exists are checked, not only the 404s of random ids.

Each operation is a subtest running a Hypothesis test of its own, built from schemathesis'
Python API: its lazy pytest loader (schemathesis.pytest.from_fixture) does not run under
pytest 9, which no longer has the Node._nodeid it rewrites.
"""

import re

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from tests.stack import ALPHA, QUEUES, upload_dataset, wait_for_job

# A real request rejected for a business rule (no such dataset, no such template) is a
# documented 422; schemathesis would call that schema-valid data refused.
EXCLUDED_CHECKS = [checks.positive_data_acceptance]
# Under the gateway's per-key rate limit, so that no 429 of its own gets in the way.
CONFIG = schemathesis.Config.from_dict({"rate-limit": "40/s", "request-timeout": 10})
EXAMPLES = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    # Negative cases are often filtered; a fuzzer that generates slowly is still a fuzzer.
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def finished(gateway: httpx.Client, response: httpx.Response) -> str:
    assert response.status_code in (201, 202), response.text
    return str(wait_for_job(gateway, response.headers["Location"], ALPHA)["id"])


def ingest_resources(gateway: httpx.Client) -> dict[str, str]:
    dataset_id = upload_dataset(gateway, "fuzz", 3)
    return {"dataset_id": dataset_id, "job_id": dataset_id}


def email_resources(gateway: httpx.Client) -> dict[str, str]:
    body = {"to": ["ann@example.com"], "template": "notice", "variables": {"message": "Hi"}}
    message_id = finished(gateway, gateway.post("/email/messages", json=body, headers=ALPHA))
    return {"message_id": message_id, "job_id": message_id}


def reports_resources(gateway: httpx.Client) -> dict[str, str]:
    spec = {
        "dataset_id": upload_dataset(gateway, "fuzz", 3),
        "group_by": ["city"],
        "metrics": [{"op": "sum", "field": "amount"}],
    }
    report_id = finished(gateway, gateway.post("/reports", json=spec, headers=ALPHA))
    schedule = {**spec, "cron": "0 0 1 1 *"}
    created = gateway.post("/reports/schedules", json=schedule, headers=ALPHA)
    assert created.status_code == 201, created.text
    return {"report_id": report_id, "job_id": report_id, "schedule_id": created.json()["id"]}


RESOURCES = {"ingest": ingest_resources, "email": email_resources, "reports": reports_resources}


@pytest.mark.parametrize("service", QUEUES)
def test_every_answer_is_documented(e2e_stack, gateway, subtests, service) -> None:
    assert set(RESOURCES) == set(QUEUES)
    url = f"{e2e_stack.gateway_url}/{service}/openapi.json"
    schema = schemathesis.openapi.from_url(url, config=CONFIG)
    resources = RESOURCES[service](gateway)
    for result in schema.get_all_operations():
        operation = result.ok()
        with subtests.test(operation.label):
            fuzz(operation, resources)


def fuzz(operation: schemathesis.APIOperation, resources: dict[str, str]) -> None:
    cases = [operation.as_strategy(mode) for mode in GenerationMode]
    names = re.findall(r"{(\w+)}", operation.path)
    if names:
        cases.append(operation.as_strategy(path_parameters={n: resources[n] for n in names}))

    @EXAMPLES
    @given(case=st.one_of(cases))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=ALPHA, excluded_checks=EXCLUDED_CHECKS)

    check()
