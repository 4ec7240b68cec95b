"""The Redis transport, hardened against messages nobody should have pushed.

Anyone who can push to a queue list can push anything. Celery refuses pickle and YAML
bodies (accept_content), unknown task names and bodies that are not JSON, but two kinds of
envelope get past it and stop the worker: one that is not JSON at all kills it with an
"Unrecoverable error" in kombu's BRPOP reader, and one without kombu's fields breaks the
message class. Both are dropped here, logged and counted, and the worker goes on consuming.

Selected with Celery's ``broker_transport`` setting; the broker URL stays ``redis://``.
"""

import base64
import binascii
import json
from typing import Any

import structlog
from kombu.transport import redis

from services.common.metrics import TASKS_REJECTED

log = structlog.get_logger(__name__)


def unusable(envelope: Any) -> str | None:
    """Why kombu could not make a message of ``envelope``; None when it can."""
    if not isinstance(envelope, dict):
        return "the envelope is not a JSON object"
    properties = envelope.get("properties")
    if not isinstance(properties, dict):
        return "the envelope has no properties"
    body, encoding = envelope.get("body", ""), properties.get("body_encoding")
    checks = (
        (isinstance(properties.get("delivery_tag"), str), "delivery tag is missing"),
        (isinstance(properties.get("delivery_info", {}), dict), "delivery info is not an object"),
        (isinstance(envelope.get("headers", {}), dict), "headers are not an object"),
        (_decodable(body, encoding), "body is unreadable"),
    )
    return next((f"the envelope's {reason}" for passed, reason in checks if not passed), None)


def _decodable(body: Any, encoding: Any) -> bool:
    if not isinstance(body, str):
        return False
    if encoding == "base64":
        try:
            base64.b64decode(body, validate=True)
        except binascii.Error:
            return False
        return True
    return encoding in (None, "utf-8")


def _drop(queue: str, reason: str) -> None:
    # The content is not logged: it is whatever someone pushed, secrets included.
    log.error("malformed message dropped", queue=queue, reason=reason)
    TASKS_REJECTED.labels("unknown", queue).inc()


class Channel(redis.Channel):
    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))  # type: ignore[misc]  # untyped in kombu
        except json.JSONDecodeError:  # popped already: nothing is left to requeue
            _drop(",".join(self._active_queues), "not JSON")  # a worker consumes one queue
            return True


class Transport(redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: str | None) -> None:
        reason = unusable(message)
        if reason is None:
            super()._deliver(message, queue)
        else:
            _drop(queue or "", reason)
