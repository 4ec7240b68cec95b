import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.common.api.problems import Problem, install_problem_handlers
from services.common.request_id import RequestIdMiddleware


class Thing(BaseModel):
    count: int


def make_client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app, retry_after=7)
    app.add_middleware(RequestIdMiddleware)

    @app.post("/things")
    def create(thing: Thing) -> Thing:
        return thing

    @app.get("/teapot")
    def teapot() -> None:
        raise Problem(418, "short and stout", spout=True)

    @app.get("/broker")
    def broker() -> None:
        raise redis.ConnectionError("refused")

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("internal detail")

    return TestClient(app, raise_server_exceptions=False)


def test_validation_errors_are_problems_without_the_input() -> None:
    response = make_client().post("/things", json={"count": "secret-input"})
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["loc"] == ["body", "count"]
    assert "secret-input" not in response.text
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_a_problem_keeps_its_status_detail_and_extensions() -> None:
    body = make_client().get("/teapot").json()
    assert body == body | {
        "status": 418,
        "title": "I'm a Teapot",
        "detail": "short and stout",
        "spout": True,
    }


def test_broker_errors_are_503_with_retry_after() -> None:
    response = make_client().get("/broker")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"


def test_unknown_routes_and_bugs_are_problems_that_leak_nothing() -> None:
    client = make_client()
    assert client.get("/nowhere").headers["Content-Type"] == "application/problem+json"
    bug = client.get("/bug", headers={"X-Request-ID": "bug-1"})
    assert bug.status_code == 500
    assert "internal detail" not in bug.text
    assert bug.headers["X-Request-ID"] == "bug-1"
    assert bug.json()["request_id"] == "bug-1"
