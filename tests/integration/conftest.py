"""Stacks of real processes for the integration suites."""

from collections.abc import Iterator

import pytest

from tests.stack import Stack


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
        stack.api("ingest")
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
        stack.api("email")
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
        stack.api("ingest")
        stack.api("reports")
        for service in ("ingest", "email", "reports"):
            stack.worker(service)
        stack.beat("reports")
        yield stack
    finally:
        stack.stop()
