import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.request_id import RequestIdMiddleware, accept_request_id, current_request_id


@pytest.mark.parametrize("value", ["abc-123", "a.b:c_d", "x" * 128])
def test_a_sane_client_id_is_kept(value) -> None:
    assert accept_request_id(value) == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "a b", "line\nbreak", '{"json": 1}'])
def test_anything_else_gets_a_new_id(value) -> None:
    made = accept_request_id(value)
    assert made != value
    assert len(made) == 32


def test_the_id_is_bound_during_the_request_and_returned() -> None:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/")
    def read() -> dict[str, str | None]:
        return {"bound": current_request_id()}

    client = TestClient(app)
    response = client.get("/", headers={"X-Request-ID": "given-1"})
    assert response.headers["X-Request-ID"] == "given-1"
    assert response.json() == {"bound": "given-1"}
    made = client.get("/")
    assert made.json()["bound"] == made.headers["X-Request-ID"]
