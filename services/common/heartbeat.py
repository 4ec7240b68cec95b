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

# Scored by when the entry goes stale, on Redis's clock (workers' clocks may disagree, and
# each worker says its own interval); entries stale for an hour go, so a crashed worker's
# hostname does not stay forever.
_PRESENT = """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600)
"""

log = structlog.get_logger(__name__)


def install_heartbeat(app: Celery, keys: QueueKeys, settings: Settings) -> None:
    path = Path(settings.worker_heartbeat_file) if settings.worker_heartbeat_file else None
    client = sync_client(settings)

    stale_after = 3 * settings.worker_heartbeat_interval

    def beat(hostname: str) -> None:
        try:
            client.eval(_PRESENT, 1, keys.consumers, hostname, stale_after)
        except UNAVAILABLE:
            log.warning("heartbeat could not reach the broker")
        if path:  # last: whoever waits for the file finds the worker counted already
            path.touch()

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


def consumers_alive(client: Any, keys: QueueKeys, now: float) -> int:
    """Workers whose last heartbeat is less than three of their intervals old (``now`` is
    Redis's time)."""
    return int(client.zcount(keys.consumers, now, "+inf"))
