"""The admin check behind the gateway's forward-auth: bearer or Basic keys, admins only."""

import base64

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.api import gateway_auth
from services.common.api.auth import ApiKeys
from services.common.api.gateway_auth import presented_key
from services.common.api.problems import install_problem_handlers


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer k-1", "k-1"),
        ("bearer k-1", "k-1"),
        (basic("anyone", "k-1"), "k-1"),
        (basic("", "k:with:colons"), "k:with:colons"),
        (basic("anyone", ""), None),
        ("Basic not-base64!", None),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
        ("Bearer ", None),
        ("Digest k-1", None),
        ("", None),
    ],
)
def test_presented_key(header: str, key: str | None) -> None:
    assert presented_key(header) == key


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.api_keys = ApiKeys(["alpha:alpha-key", "ops:ops-key:admin"])
    install_problem_handlers(app, retry_after=5)
    app.include_router(gateway_auth.router)
    return TestClient(app)


def test_admins_pass_with_either_scheme(client: TestClient) -> None:
    assert client.get("/auth/admin", headers={"Authorization": "Bearer ops-key"}).status_code == 204
    basic_ok = client.get("/auth/admin", headers={"Authorization": basic("me", "ops-key")})
    assert basic_ok.status_code == 204


def test_others_are_refused_with_a_challenge_a_browser_answers(client: TestClient) -> None:
    missing = client.get("/auth/admin")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith('Basic realm="Taskyard operators"')
    assert missing.headers["Content-Type"] == "application/problem+json"
    wrong = client.get("/auth/admin", headers={"Authorization": basic("me", "nope")})
    assert wrong.status_code == 401
    tenant = client.get("/auth/admin", headers={"Authorization": "Bearer alpha-key"})
    assert tenant.status_code == 403
