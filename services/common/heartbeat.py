"""A worker's heartbeat, beaten by the consumer's own timer: a liveness file, and the
worker's entry in its queue's set of consumers.

Both go stale when the consumer stops making progress (for instance "alive but idle"
after a broker restart, celery#8030), which ``celery inspect ping`` would not notice; a
Kubernetes probe checks the file's age instead (celery#4079), and the queue exporter counts
the consumers whose entry is fresh.
"""

import contextlib
from pathlib import Path
from typing import Any

import structlog
from celery import Celery, bootsteps

from services.common.broker import UNAVAILABLE, sync_client
from services.common.jobs.keys import QueueKeys
from services.common.settings import Settings

# Scored by Redis's clock, so workers on machines whose clocks disagree are still comparable.
_PRESENT = "local now = redis.call('TIME') redis.call('ZADD', KEYS[1], now[1], ARGV[1])"

log = structlog.get_logger(__name__)


def install_heartbeat(app: Celery, keys: QueueKeys, settings: Settings) -> None:
    path = Path(settings.worker_heartbeat_file) if settings.worker_heartbeat_file else None
    client = sync_client(settings)

    def beat(hostname: str) -> None:
        if path:
            path.touch()
        try:
            client.eval(_PRESENT, 1, keys.consumers, hostname)
        except UNAVAILABLE:
            log.warning("heartbeat could not reach the broker")

    class Heartbeat(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def start(self, consumer: Any) -> None:
            beat(consumer.hostname)
            self.timer = consumer.timer.call_repeatedly(
                settings.worker_heartbeat_interval, beat, (consumer.hostname,)
            )

        def stop(self, consumer: Any) -> None:
            # Also called on every consumer restart (a broker outage): the file then ages
            # instead of vanishing, so a probe waits out a short outage.
            consumer.timer.cancel(self.timer)

        def shutdown(self, consumer: Any) -> None:
            if path:
                path.unlink(missing_ok=True)
            with contextlib.suppress(*UNAVAILABLE):  # else the entry ages out of the count
                client.zrem(keys.consumers, consumer.hostname)

    app.steps["consumer"].add(Heartbeat)


def consumers_alive(client: Any, keys: QueueKeys, settings: Settings, now: float) -> int:
    """Workers whose heartbeat is at most three intervals old (``now`` is Redis's time)."""
    oldest = now - 3 * settings.worker_heartbeat_interval
    return int(client.zcount(keys.consumers, oldest, "+inf"))
