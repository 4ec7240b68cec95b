"""The SDK's retries against a scripted HTTP server: Retry-After, idempotency keys, a bound."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from client import AsyncTaskyard, Taskyard, TaskyardError

JOB = {"id": "j1", "status": "queued", "progress": 0.0}


class Script(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict[str, str], dict]]] = []
    seen: ClassVar[list[tuple[float, dict[str, str]]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append((time.monotonic(), dict(self.headers)))
        status, headers, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Script.answers, Script.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


UNAVAILABLE = (503, {"Retry-After": "1"}, {"title": "Service Unavailable", "detail": "busy"})
ACCEPTED = (202, {"Location": "/email/messages/j1"}, JOB)


def test_a_503_is_retried_after_retry_after_with_the_same_idempotency_key(server) -> None:
    Script.answers = [UNAVAILABLE, ACCEPTED]
    with Taskyard(server, "k") as taskyard:
        job = taskyard.send_email(["a@example.com"], "notice", {"message": "x"})
    assert job.location == "/email/messages/j1"
    (first, first_headers), (second, second_headers) = Script.seen
    assert second - first >= 1.0  # Retry-After: 1 was honoured
    assert first_headers["Idempotency-Key"] == second_headers["Idempotency-Key"]


def test_separate_calls_get_separate_keys(server) -> None:
    Script.answers = [ACCEPTED]
    with Taskyard(server, "k") as taskyard:
        taskyard.send_email(["a@example.com"], "notice", {"message": "x"})
        taskyard.send_email(["a@example.com"], "notice", {"message": "x"})
    assert Script.seen[0][1]["Idempotency-Key"] != Script.seen[1][1]["Idempotency-Key"]


def test_retries_stop_within_the_bound_and_raise_the_problem(server) -> None:
    Script.answers = [
        (
            503,
            {"Retry-After": "1", "X-Request-ID": "r-9"},
            {"title": "Service Unavailable", "detail": "busy"},
        )
    ]
    with Taskyard(server, "k", retry_for=2.5) as taskyard, pytest.raises(TaskyardError) as error:
        taskyard.send_email(["a@example.com"], "notice", {"message": "x"})
    assert len(Script.seen) == 3  # at 0, 1 and 2 seconds; a fourth would pass the 2.5 s bound
    assert (error.value.status, error.value.detail, error.value.request_id) == (503, "busy", "r-9")


def test_a_client_error_is_not_retried(server) -> None:
    problem = {"title": "Unprocessable Entity", "detail": "bad", "request_id": "r-1"}
    Script.answers = [(422, {}, problem)]
    with Taskyard(server, "k") as taskyard, pytest.raises(TaskyardError) as error:
        taskyard.create_report({})
    assert len(Script.seen) == 1
    assert (error.value.status, error.value.title, error.value.request_id) == (
        422,
        "Unprocessable Entity",
        "r-1",
    )


def test_the_async_client_retries_alike(server) -> None:
    Script.answers = [UNAVAILABLE, ACCEPTED]

    async def go() -> str:
        async with AsyncTaskyard(server, "k") as taskyard:
            return (await taskyard.send_email(["a@example.com"], "notice", {"message": "x"})).id

    assert asyncio.run(go()) == "j1"
    assert Script.seen[0][1]["Idempotency-Key"] == Script.seen[1][1]["Idempotency-Key"]


def test_an_api_key_is_required(monkeypatch) -> None:
    monkeypatch.delenv("TASKYARD_API_KEY", raising=False)
    with pytest.raises(TaskyardError, match="TASKYARD_API_KEY"):
        Taskyard("http://127.0.0.1:1")
