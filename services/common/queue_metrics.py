"""The queue exporter: what Celery's own tooling does not export, read from Redis per queue.

Backlog as queued (the queue's list) plus reserved (kombu's unacked hash hides prefetched
messages from a plain LLEN), the age of the oldest waiting message, delayed messages, dead
letters, jobs by status, and the workers consuming. One exporter process serves every queue,
so each figure exists once per queue however many API or worker replicas run.

Run it as ``python -m services.common.queue_metrics ingest email reports``.
"""

import json
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated

import redis
import typer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.broker import UNAVAILABLE, sync_client
from services.common.heartbeat import consumers_alive
from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import JobStatus
from services.common.logging import configure_logging
from services.common.settings import Settings

_OPEN = (JobStatus.queued, JobStatus.running)
_FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


@dataclass(frozen=True)
class QueueFigures:
    queue: str
    length: int
    reserved: int
    delayed: int
    dead_letters: int
    oldest_age: float
    consumers: int
    status_counts: dict[str, str]

    def count(self, status: JobStatus) -> int:
        return int(self.status_counts.get(status, 0))


class QueueCollector(Collector):
    def __init__(self, client: redis.Redis, settings: Settings, queues: Sequence[str]) -> None:
        self.client = client
        self.queues = [QueueKeys(settings.key_namespace, queue) for queue in queues]

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("taskyard_broker_up", "1 when this scrape could read Redis")
        try:
            seconds, micros = self.client.time()  # Redis's clock, as the heartbeats' scores
            figures = [self._read(keys, seconds + micros / 1e6) for keys in self.queues]
        except UNAVAILABLE:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _families(figures)

    def _read(self, keys: QueueKeys, now: float) -> QueueFigures:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(keys.queue_list)
            # kombu pushes left and pops right: -1 has waited longest. A tail that is not due
            # yet (a countdown) may hide due messages behind it; we accept that.
            pipe.lindex(keys.queue_list, -1)
            pipe.hlen(keys.reserved)
            pipe.zcard(keys.delayed)
            pipe.zcard(keys.dead_letters)
            pipe.hgetall(keys.status_counts)
            length, oldest, reserved, delayed, dead, counts = pipe.execute()
        due = _due_at(oldest)
        return QueueFigures(
            queue=keys.queue,
            length=length,
            reserved=reserved,
            delayed=delayed,
            dead_letters=dead,
            oldest_age=max(0.0, now - due) if due is not None else 0.0,
            consumers=consumers_alive(self.client, keys, now),
            status_counts=counts,
        )


def _due_at(message: str | None) -> float | None:
    """When a message was meant to run; None for an empty list or a body we cannot read."""
    if message is None:
        return None
    try:
        due = json.loads(message)["headers"]["due_at"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(due) if isinstance(due, int | float) else None


def _families(figures: list[QueueFigures]) -> Iterator[Metric]:
    def gauge(name: str, help_text: str, value: Callable[[QueueFigures], float]) -> Metric:
        family = GaugeMetricFamily(name, help_text, labels=["queue_name"])
        for figure in figures:
            family.add_metric([figure.queue], value(figure))
        return family

    yield gauge("taskyard_queue_length", "Messages waiting", lambda f: f.length)
    yield gauge("taskyard_queue_reserved", "Messages taken, not yet acked", lambda f: f.reserved)
    yield gauge(
        "taskyard_queue_backlog",
        "Messages waiting or taken, not yet acked",
        lambda f: f.length + f.reserved,
    )
    yield gauge("taskyard_queue_delayed", "Messages scheduled for later", lambda f: f.delayed)
    yield gauge(
        "taskyard_queue_oldest_message_age_seconds",
        "How long the oldest waiting message has been due (0 when none waits)",
        lambda f: f.oldest_age,
    )
    yield gauge("taskyard_queue_consumers", "Workers consuming", lambda f: f.consumers)
    yield gauge("taskyard_dead_letters", "Jobs in the dead-letter list", lambda f: f.dead_letters)
    jobs = GaugeMetricFamily(
        "taskyard_jobs", "Jobs by open status", labels=["queue_name", "status"]
    )
    finished = CounterMetricFamily(
        "taskyard_jobs_finished", "Jobs finished, by outcome", labels=["queue_name", "status"]
    )
    for figure in figures:
        for status in _OPEN:
            jobs.add_metric([figure.queue, status], figure.count(status))
        for status in _FINISHED:
            finished.add_metric([figure.queue, status], figure.count(status))
    yield jobs
    yield finished


def main(
    queues: Annotated[list[str], typer.Argument(help="The queues to export")],
    port: Annotated[int, typer.Option(help="Where to serve /metrics")] = 9108,
    host: Annotated[str, typer.Option(help="The address to listen on")] = "127.0.0.1",
) -> None:
    """Serve every named queue's figures for Prometheus until stopped."""
    settings = Settings()
    configure_logging("queue-exporter", log_format=settings.log_format, level=settings.log_level)
    registry = CollectorRegistry()
    registry.register(QueueCollector(sync_client(settings), settings, queues))
    # As PID 1 in a container the default SIGTERM action does not apply: wait for it instead,
    # blocked before the server thread starts so that only this wait receives it.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    start_http_server(port, addr=host, registry=registry)
    signal.sigwait(stop)


if __name__ == "__main__":
    typer.run(main)
