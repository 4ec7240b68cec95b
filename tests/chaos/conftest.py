"""What the chaos suite breaks on purpose: brokers of its own, and workers it kills."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAST, RedisServer
from tests.stack import Stack


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server a test may kill, stop and restart: it keeps its AOF in tmp_path."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack_on(tmp_path: Path, sqlite_url: str) -> Iterator:
    """Makes stacks on a given broker and stops them all at the end."""
    stacks: list[Stack] = []

    def make(redis_url: str, database_url: str = sqlite_url, **env: str) -> Stack:
        stack = Stack(redis_url, database_url, tmp_path, extra_env={**FAST, **env})
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            stack.stop()
