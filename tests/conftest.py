"""Fixtures shared by every suite: a real redis-server, the data stores, and CI strictness."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.processes import Process, free_port, require_binary
from tests.smtp import SmtpServer
from tests.stack import QUEUES, Stack

IN_CI = os.environ.get("CI") == "true"
# Short retries, so that a fault or a failing job plays out in seconds.
FAST = {"TASKYARD_MAX_ATTEMPTS": "3", "TASKYARD_RETRY_BACKOFF_SECONDS": "1"}
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With CI=true a skip is a failure: a missing dependency must not pass silently."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is a failure: {report.longrepr}"


class RedisServer:
    """A redis-server of the tests' own, with the persistence production promises (AOF)."""

    def __init__(self, workdir: Path, appendfsync: str = "always") -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.process = Process(
            f"redis-{self.port}",
            [
                require_binary("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(workdir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                appendfsync,
                "--maxmemory-policy",
                "noeviction",
                "--hash-max-listpack-value",  # as deployed (k8s/base/redis.yaml says why)
                "1024",
            ],
            {},
            workdir,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def start(self) -> "RedisServer":
        self.process.start().wait_ready(self._pings, timeout=15)
        return self

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """kill -9: no shutdown, no last write; what survives is what the AOF already had."""
        self.process.kill()

    def _pings(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'taskyard.db'}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A schema of its own in PostgreSQL's test database, dropped on exit: its URL."""
    schema = f"taskyard_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc}); set TEST_POSTGRES_URL"
        ) from exc
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A schema of this session's own, dropped at the end."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sample_stack(redis_server, sqlite_url, tmp_path_factory) -> Iterator[Stack]:
    """A worker of test tasks (tests/sample_app.py) on the real base task."""
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("sample"),
        # A message left in flight by a dead worker is queued again within a sweep or two.
        extra_env={**FAST, "TASKYARD_INFLIGHT_GRACE_SECONDS": "1"},
    )
    try:
        stack.worker("sample", app="tests.sample_app")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def e2e_stack(redis_server, sqlite_url, smtp_server, tmp_path_factory) -> Iterator[Stack]:
    """The whole local stack behind the real Traefik gateway, as a client sees it."""
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("e2e"),
        extra_env={"SMTP_URL": smtp_server.url},
    )
    try:
        stack.every_service()
        stack.queue_metrics_url = stack.queue_exporter(*QUEUES)
        flowers = {f"flower_{queue}": stack.flower(queue) for queue in QUEUES}
        stack.gateway_url = stack.gateway(**stack.apis, **flowers)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def gateway(e2e_stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=e2e_stack.gateway_url, timeout=10) as client:
        yield client
