"""What each SDK call sends, built once for the sync and the async client alike."""

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

SERVICES = ("ingest", "email", "reports")
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".ndjson": "application/x-ndjson",
    ".jsonl": "application/x-ndjson",
}


class TaskyardError(Exception):
    """A problem+json answer (or a failed job), with what a support request needs."""

    def __init__(self, status: int, title: str, detail: str, request_id: str | None) -> None:
        super().__init__(f"{status} {title}: {detail} (request id {request_id})")
        self.status = status
        self.title = title
        self.detail = detail
        self.request_id = request_id

    @classmethod
    def from_response(cls, response: httpx.Response) -> "TaskyardError":
        try:
            body = response.json()
        except ValueError:
            body = {}
        return cls(
            status=response.status_code,
            title=body.get("title") or response.reason_phrase,
            detail=body.get("detail") or response.text[:200],
            request_id=body.get("request_id") or response.headers.get("X-Request-ID"),
        )


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    file: Path | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # One key per call, kept by its retries: a retried POST never makes a second job.
        if self.method == "POST" and "Idempotency-Key" not in self.headers:
            self.headers["Idempotency-Key"] = uuid.uuid4().hex


def settings(url: str | None, api_key: str | None) -> tuple[str, str]:
    url = url or os.environ.get("TASKYARD_URL", "http://127.0.0.1:8080")
    key = api_key or os.environ.get("TASKYARD_API_KEY", "")
    if not key:
        raise TaskyardError(401, "Unauthorized", "set TASKYARD_API_KEY or pass an API key", None)
    return url.rstrip("/"), key


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """Retry-After in seconds or as an HTTP date; else exponential backoff."""
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return float(value)
    if value:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            return max(0.0, (moment - datetime.now().astimezone()).total_seconds())
    return min(10.0, 0.5 * 2.0**attempt)


def upload_dataset(file: Path, name: str | None, columns: str | None) -> Call:
    if file.suffix == ".json":
        return Call("POST", "/ingest/datasets", json=json.loads(file.read_text()))
    kind = CONTENT_TYPES.get(file.suffix.lower(), "text/csv")
    params = {"name": name or file.stem} | ({"columns": columns} if columns else {})
    return Call(
        "POST", "/ingest/datasets", params=params, file=file, headers={"Content-Type": kind}
    )


def send_email(
    to: list[str],
    template: str,
    variables: dict[str, Any],
    *,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    subject: str | None = None,
    reply_to: str | None = None,
) -> Call:
    body = {
        "to": to,
        "cc": cc or [],
        "bcc": bcc or [],
        "template": template,
        "variables": variables,
    }
    body |= {"subject": subject} if subject else {}
    body |= {"reply_to": reply_to} if reply_to else {}
    return Call("POST", "/email/messages", json=body)


def create_report(spec: dict[str, Any]) -> Call:
    return Call("POST", "/reports", json=spec)


def job_path(service: str, job_id: str) -> str:
    return f"/{service}/jobs/{job_id}"
