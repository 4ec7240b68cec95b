"""The prefork pool registers no process it has already seen exit (celery#9250)."""

from types import SimpleNamespace

import pytest
from celery.concurrency import asynpool
from kombu.asynchronous import Hub

from services.common.pool import AsynPool


def test_a_process_seen_exiting_is_not_registered_again_on_reconnect() -> None:
    hub = Hub()
    pool = SimpleNamespace(_event_process_exit=lambda *_: None)
    exited = SimpleNamespace(_sentinel_poll=None)  # what the pool leaves of it until reaped
    with pytest.raises(ValueError, match="file descriptor is None"):
        asynpool.AsynPool._track_child_process(pool, exited, hub)  # Celery's own
    AsynPool._track_child_process(pool, exited, hub)  # type: ignore[arg-type]
    assert not hub.readers
