"""A marker per job whose message the SMTP server accepted, written right after it said 250.

A redelivered or replayed job finds it and does not send again. What remains is the moment
between the server's 250 and this one Redis write (see the README).
"""

import json
from typing import Any, cast

import redis

from services.common.jobs.keys import QueueKeys


class Outbox:
    def __init__(self, client: redis.Redis, keys: QueueKeys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl = ttl_seconds

    def accepted(self, job_id: str) -> dict[str, Any] | None:
        raw = cast(str | None, self.client.get(self._key(job_id)))
        return json.loads(raw) if raw else None

    def record(self, job_id: str, delivery: dict[str, Any]) -> None:
        self.client.set(self._key(job_id), json.dumps(delivery), ex=self.ttl)

    def _key(self, job_id: str) -> str:
        return f"{self.keys.prefix}sent:{job_id}"
