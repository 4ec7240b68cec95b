"""The whole local stack behind the real Traefik gateway, as a client sees it."""

from collections.abc import Iterator

import httpx
import pytest

from tests.stack import Stack


@pytest.fixture(scope="session")
def gateway(redis_server, sqlite_url, smtp_server, tmp_path_factory) -> Iterator[httpx.Client]:
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("e2e"),
        extra_env={"SMTP_URL": smtp_server.url},
    )
    try:
        backends = {service: stack.api(service) for service in ("ingest", "email", "reports")}
        for service in backends:
            stack.worker(service)
        url = stack.gateway(**backends)
        with httpx.Client(base_url=url, timeout=10) as client:
            yield client
    finally:
        stack.stop()
