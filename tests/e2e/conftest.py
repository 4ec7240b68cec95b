"""The whole local stack behind the real Traefik gateway, as a client sees it."""

from collections.abc import Iterator

import httpx
import pytest

from tests.stack import QUEUES, Stack


@pytest.fixture(scope="session")
def e2e_stack(redis_server, sqlite_url, smtp_server, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(
        redis_server.url,
        sqlite_url,
        tmp_path_factory.mktemp("e2e"),
        extra_env={"SMTP_URL": smtp_server.url},
    )
    try:
        for queue in QUEUES:
            stack.api(queue)
            stack.worker(queue)
        stack.beat("reports")
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
