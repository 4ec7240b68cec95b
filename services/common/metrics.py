"""Every metric our processes define, and the registry to scrape.

HTTP metrics are labelled by route template, never by raw path or id. Task metrics carry
celery-exporter's names and labels, which existing dashboards and alerts already use.
"""

import os
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (until the response starts)",
    ["service", "method", "route"],
)


_TASK = ["name", "queue_name"]
# Tasks run from milliseconds (a mail) to half an hour (a large load).
_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

TASKS_SENT = Counter("celery_task_sent_total", "Task messages published", _TASK)
TASKS_RECEIVED = Counter("celery_task_received_total", "Task messages a worker took", _TASK)
TASKS_STARTED = Counter("celery_task_started_total", "Tasks that began to run", _TASK)
TASKS_SUCCEEDED = Counter("celery_task_succeeded_total", "Tasks that returned", _TASK)
TASKS_FAILED = Counter("celery_task_failed_total", "Tasks that raised", [*_TASK, "exception"])
TASKS_RETRIED = Counter("celery_task_retried_total", "Tasks queued for another attempt", _TASK)
TASKS_REJECTED = Counter(
    "celery_task_rejected_total", "Messages refused: unknown task or unreadable body", _TASK
)
TASKS_REVOKED = Counter("celery_task_revoked_total", "Tasks revoked before they ran", _TASK)
TASK_RUNTIME = Histogram("celery_task_runtime", "Seconds a task ran", _TASK, buckets=_SECONDS)
TASK_QUEUE_WAIT = Histogram(
    "celery_task_queue_wait_time",
    "Seconds from when a task was due to when it started",
    _TASK,
    buckets=_SECONDS,
)

# prometheus-client picks multiprocess mode from this variable when it is first imported.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def scrape_registry() -> CollectorRegistry:
    """What /metrics serves: this process's metrics, or the sum over every process's files."""
    if not MULTIPROCESS_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                HTTP_LATENCY.labels(self.service, scope["method"], _route(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            HTTP_REQUESTS.labels(self.service, scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", "<unmatched>")
