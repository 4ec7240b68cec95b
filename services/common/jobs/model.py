"""A job record and its encoding as a Redis hash."""

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})
_JSON_FIELDS = ("payload", "result")


def new_job_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class Job(BaseModel):
    id: str
    task: str
    tenant: str
    status: JobStatus = JobStatus.queued
    progress: float = Field(0.0, ge=0.0, le=1.0)
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    body_hash: str = ""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


def encode(fields: dict[str, Any]) -> dict[str, str]:
    """Hash values are strings; None is stored as "" so a field can be cleared by HSET."""
    out: dict[str, str] = {}
    for name, value in fields.items():
        if value is None:
            out[name] = ""
        elif name in _JSON_FIELDS:
            out[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, datetime):
            out[name] = value.isoformat()
        else:
            out[name] = str(value)
    return out


def decode(raw: dict[str, str]) -> Job:
    fields: dict[str, Any] = {name: value for name, value in raw.items() if value != ""}
    for name in _JSON_FIELDS:
        if name in fields:
            fields[name] = json.loads(fields[name])
    return Job.model_validate(fields)
