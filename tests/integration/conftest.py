"""Stacks of real processes for the integration suites."""

from collections.abc import Iterator

import pytest

from tests.stack import Stack


@pytest.fixture(scope="module")
def sample_stack(redis_server, sqlite_url, tmp_path_factory) -> Iterator[Stack]:
    """A worker of test tasks (tests/sample_app.py) on the real base task."""
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("sample"),
        extra_env={
            "TASKYARD_MAX_ATTEMPTS": "3",
            "TASKYARD_RETRY_BACKOFF_SECONDS": "1",
            # A message left in flight by a dead worker is queued again within a sweep or two.
            "TASKYARD_INFLIGHT_GRACE_SECONDS": "1",
        },
    )
    try:
        stack.worker("sample", app="tests.sample_app")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def ingest_stack(redis_server, database_url, tmp_path_factory) -> Iterator[Stack]:
    """The ingest API and a worker, on SQLite and on PostgreSQL."""
    stack = Stack(
        redis_server.url,
        database_url,
        tmp_path_factory.mktemp("ingest"),
        extra_env={
            "TASKYARD_INGEST_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024),
            "TASKYARD_INGEST_MAX_JSON_BYTES": str(256 * 1024),
            "TASKYARD_INGEST_CHUNK_BYTES": "4096",
            "TASKYARD_INGEST_BATCH_SIZE": "100",
        },
    )
    try:
        stack.ingest_url = stack.api("ingest")
        stack.worker("ingest")
        yield stack
    finally:
        stack.stop()


EMAIL_ENV = {"TASKYARD_MAX_ATTEMPTS": "4", "TASKYARD_RETRY_BACKOFF_SECONDS": "1"}


@pytest.fixture(scope="module")
def email_stack(redis_server, sqlite_url, smtp_server, tmp_path_factory) -> Iterator[Stack]:
    """The email API and a worker, sending to the tests' SMTP server."""
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("email"),
        extra_env={"SMTP_URL": smtp_server.url, **EMAIL_ENV},
    )
    try:
        stack.email_url = stack.api("email")
        stack.worker("email")
        yield stack
    finally:
        stack.stop()


REPORTS_ENV = {
    # A short visibility window, so a run_at past it (the delayed set) is seconds away.
    "TASKYARD_VISIBILITY_TIMEOUT": "60",
    "TASKYARD_TASK_TIME_LIMIT": "50",
    "TASKYARD_TASK_SOFT_TIME_LIMIT": "45",
    "TASKYARD_RETRY_BACKOFF_MAX_SECONDS": "30",
    "TASKYARD_REPORTS_RELEASE_INTERVAL": "1",
    "TASKYARD_REPORTS_CHUNK_ROWS": "500",
    "TASKYARD_PUBLIC_URL": "http://gateway.test",
}


@pytest.fixture(scope="module")
def reports_stack(redis_server, database_url, smtp_server, tmp_path_factory) -> Iterator[Stack]:
    """Ingest to load data, reports to aggregate it, an email worker to announce it."""
    stack = Stack(
        redis_server.url,
        database_url,
        tmp_path_factory.mktemp("reports"),
        extra_env={"SMTP_URL": smtp_server.url, **REPORTS_ENV},
    )
    try:
        stack.ingest_url = stack.api("ingest")
        stack.reports_url = stack.api("reports")
        for service in ("ingest", "email", "reports"):
            stack.worker(service)
        stack.beat("reports")
        yield stack
    finally:
        stack.stop()
