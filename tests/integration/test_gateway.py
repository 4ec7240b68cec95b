"""The real Traefik, started by ``python -m gateway.launch``, in front of a stdlib stub backend."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_BODY = 1024
MAX_UPLOAD = 65536
# Low enough that one key runs out within a test, high enough that the module's anonymous
# requests (one shared bucket per router) never do.
RATE_LIMIT_AVERAGE = 20
RATE_LIMIT_BURST = 40
STARTUP_SECONDS = 15.0
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "frame-ancestors 'none'",
}


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.seen: list[dict[str, object]] = []
        self.lock = threading.Lock()
        # Set by the streaming test once it has read the first event through the gateway.
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


class StubHandler(BaseHTTPRequestHandler):
    server: StubServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen: dict[str, object] = {
            "method": self.command,
            "path": self.path,
            "forwarded_prefix": self.headers.get("X-Forwarded-Prefix"),
            "request_id": self.headers.get("X-Request-Id"),
            "body_length": len(body),
        }
        with self.server.lock:
            self.server.seen.append(seen)
        if self.path == "/stream":
            self._stream()
            return
        # /status/<code>: the backend's own error, as an API answers 401 or 405.
        status = int(self.path.partition("/status/")[2] or 200)
        payload = json.dumps(seen).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        # What a backend might leak; the gateway must remove it.
        self.send_header("X-Powered-By", "stub/1.0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _stream(self) -> None:
        # HTTP/1.0 without Content-Length: the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(b"data: first\n\n")
        self.wfile.flush()
        released = self.server.release.wait(timeout=10)
        self.wfile.write(f"data: released={str(released).lower()}\n\n".encode())
        self.wfile.write(b"data: last\n\n")
        self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _echo


@dataclass
class Gateway:
    web: httpx.Client
    ops: httpx.Client
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def backend() -> Iterator[StubServer]:
    server = StubServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def wait_until_ready(web: httpx.Client, ops: httpx.Client, proc: subprocess.Popen[bytes]) -> str:
    """Empty when ready, else why not. Ping answers before the file provider's routes are live."""
    deadline = time.monotonic() + STARTUP_SECONDS
    problem = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"traefik exited with {proc.returncode}"
        try:
            if ops.get("/ping").status_code == 200 and web.get("/ingest/ready").status_code == 200:
                return ""
            problem = "ping or route not ready"
        except httpx.TransportError as exc:
            problem = repr(exc)
        time.sleep(0.1)
    return f"not ready after {STARTUP_SECONDS} s: {problem}"


@pytest.fixture(scope="module")
def gateway(backend: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    state_dir = tmp_path_factory.mktemp("gateway")
    web_port, ops_port = free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_PORT": str(web_port),
        "GATEWAY_METRICS_PORT": str(ops_port),
        "GATEWAY_LOG_LEVEL": "INFO",
        "GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
        "GATEWAY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "GATEWAY_STATE_DIR": str(state_dir),
        "TASKYARD_INGEST_URL": backend.url,
        "TASKYARD_EMAIL_URL": backend.url,
        "TASKYARD_REPORTS_URL": backend.url,
        "GATEWAY_RATE_LIMIT_AVERAGE": str(RATE_LIMIT_AVERAGE),
        "GATEWAY_RATE_LIMIT_BURST": str(RATE_LIMIT_BURST),
        # Nothing listens there: Flower is down. (The stub passes the admin check.)
        "TASKYARD_FLOWER_INGEST_URL": f"http://127.0.0.1:{free_port()}",
    }
    log = state_dir / "traefik.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.launch"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    web = httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=20, trust_env=False)
    ops = httpx.Client(base_url=f"http://127.0.0.1:{ops_port}", timeout=20, trust_env=False)
    try:
        problem = wait_until_ready(web, ops, proc)
        if problem:
            pytest.fail(
                f"gateway did not start: {problem}\n--- traefik output ---\n{log.read_text()}"
            )
        yield Gateway(web=web, ops=ops, log=log)
    finally:
        web.close()
        ops.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    assert "x-powered-by" not in response.headers
    assert "server" not in response.headers, response.headers["server"]


@pytest.mark.parametrize("service", ["ingest", "email", "reports"])
def test_each_prefix_reaches_its_backend_stripped(gateway: Gateway, service: str) -> None:
    response = gateway.web.get(f"/{service}/x", params={"q": "1"})

    assert response.status_code == 200
    seen = response.json()
    assert seen["path"] == "/x?q=1"
    assert seen["forwarded_prefix"] == f"/{service}"


def test_unknown_prefix_is_404_with_security_headers(gateway: Gateway, backend: StubServer) -> None:
    before = backend.count()

    response = gateway.web.get("/nope/x")

    assert response.status_code == 404
    assert_security_headers(response)
    assert backend.count() == before


def test_request_id_reaches_backend_unchanged(gateway: Gateway) -> None:
    request_id = f"req-{uuid.uuid4()}"

    response = gateway.web.post("/email/x", content=b"{}", headers={"X-Request-Id": request_id})

    assert response.status_code == 200
    assert response.json()["request_id"] == request_id


def test_normal_response_has_security_headers_and_no_server_version(gateway: Gateway) -> None:
    response = gateway.web.get("/reports/x")

    assert response.status_code == 200
    assert_security_headers(response)


def test_small_write_passes_the_body_limit(gateway: Gateway) -> None:
    response = gateway.web.put("/email/x", content=b"a" * (MAX_BODY // 2))

    assert response.status_code == 200
    assert response.json()["body_length"] == MAX_BODY // 2


def test_body_over_limit_is_413_at_the_edge(gateway: Gateway, backend: StubServer) -> None:
    before = backend.count()

    response = gateway.web.post("/email/x", content=b"a" * (MAX_BODY + 1))

    assert response.status_code == 413
    assert_security_headers(response)
    assert backend.count() == before


def test_upload_route_takes_bodies_over_the_general_limit(gateway: Gateway) -> None:
    response = gateway.web.post("/ingest/datasets", content=b"a" * (MAX_BODY + 1))

    assert response.status_code == 200
    assert response.json() | {"request_id": None} == {
        "method": "POST",
        "path": "/datasets",
        "forwarded_prefix": "/ingest",
        "request_id": None,
        "body_length": MAX_BODY + 1,
    }


def test_upload_over_its_limit_is_413(gateway: Gateway, backend: StubServer) -> None:
    before = backend.count()

    response = gateway.web.post("/ingest/datasets", content=b"a" * (MAX_UPLOAD + 1))

    assert response.status_code == 413
    assert_security_headers(response)
    assert backend.count() == before


def test_metrics_count_requests_per_router(gateway: Gateway) -> None:
    assert gateway.web.get("/email/x").status_code == 200
    assert gateway.web.post("/email/x", content=b"{}").status_code == 200

    metrics = gateway.ops.get("/metrics").text

    routers = set(re.findall(r'^traefik_router_requests_total\{.*router="([^"]+)"', metrics, re.M))
    assert {"email-read@file", "email-write@file"} <= routers, metrics


def test_metrics_and_ping_are_not_on_the_public_port(gateway: Gateway) -> None:
    assert gateway.web.get("/metrics").status_code == 404
    assert gateway.web.get("/ping").status_code == 404


def test_access_log_is_json_with_request_id_and_without_credentials(gateway: Gateway) -> None:
    request_id = f"req-{uuid.uuid4()}"
    headers = {"X-Request-Id": request_id, "Authorization": "Bearer secret-xyz"}

    assert gateway.web.get("/reports/x", headers=headers).status_code == 200

    # Traefik writes the access log line after the response, so it may lag a little.
    deadline = time.monotonic() + 10
    while request_id not in gateway.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    output = gateway.output()
    lines = [line for line in output.splitlines() if request_id in line]
    assert len(lines) == 1, output
    entry = json.loads(lines[0])
    assert entry["request_X-Request-Id"] == request_id
    assert entry["RouterName"] == "reports-read@file"
    assert "secret-xyz" not in output


def test_event_stream_is_not_buffered(gateway: Gateway, backend: StubServer) -> None:
    backend.release.clear()
    events: list[str] = []

    with gateway.web.stream("GET", "/ingest/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line.removeprefix("data: "))
                # The backend holds the rest until this is set: had the gateway buffered the
                # response, the first event could not have arrived, and the backend reports it.
                backend.release.set()

    assert events == ["first", "released=true", "last"]


def test_a_key_over_its_rate_is_refused_while_another_key_is_served(
    gateway: Gateway, backend: StubServer
) -> None:
    busy = {"Authorization": f"Bearer busy-{uuid.uuid4()}"}
    before = backend.count()

    served, refused = send_until_refused(gateway, busy)
    reached = backend.count() - before
    other = gateway.web.get("/email/x", headers={"Authorization": f"Bearer calm-{uuid.uuid4()}"})

    assert served >= RATE_LIMIT_BURST  # a burst passes at once
    assert refused.status_code == 429
    assert_security_headers(refused)
    assert reached == served  # the refused request never reached the backend
    assert other.status_code == 200
    # Retry-After is honest: after that long the key is served again.
    time.sleep(int(refused.headers["Retry-After"]))
    assert gateway.web.get("/email/x", headers=busy).status_code == 200


def send_until_refused(gateway: Gateway, headers: dict[str, str]) -> tuple[int, httpx.Response]:
    """One request after another until one is refused: how many were served, and the refusal."""
    served = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = gateway.web.get("/email/x", headers=headers)
        if response.status_code != 200:
            return served, response
        served += 1
    pytest.fail(f"still served after {served} requests")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/reports/status/401", 401),  # the backend's own errors
        ("DELETE", "/ingest/status/405", 405),
        ("GET", "/email/metrics", 404),  # a path the gateway denies
        ("GET", "/flower/ingest/", 502),  # a backend that is down
    ],
)
def test_errors_have_the_security_headers_and_no_server(
    gateway: Gateway, method: str, path: str, status: int
) -> None:
    response = gateway.web.request(
        method, path, headers={"Authorization": f"Bearer {uuid.uuid4()}"}
    )

    assert response.status_code == status
    assert_security_headers(response)
