"""The whole local stack behind the real Traefik gateway, as a client sees it."""

from collections.abc import Iterator

import httpx
import pytest

from tests.stack import Stack

SERVICES = ("ingest", "email", "reports")


@pytest.fixture(scope="session")
def e2e_stack(redis_server, sqlite_url, smtp_server, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("e2e"),
        extra_env={"SMTP_URL": smtp_server.url},
    )
    try:
        stack.ingest_url, stack.email_url, stack.reports_url = apis = [
            stack.api(service) for service in SERVICES
        ]
        for service in SERVICES:
            stack.worker(service)
        stack.beat("reports")
        stack.queue_metrics_url = stack.queue_exporter(*SERVICES)
        flowers = {f"flower_{service}": stack.flower(service) for service in SERVICES}

        stack.gateway_url = stack.gateway(**dict(zip(SERVICES, apis, strict=True)), **flowers)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def gateway(e2e_stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=e2e_stack.gateway_url, timeout=10) as client:
        yield client
