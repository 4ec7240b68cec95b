"""The SDK: `Taskyard` (sync) and `AsyncTaskyard`, one gateway URL and an API key.

with Taskyard() as taskyard:  # TASKYARD_URL, TASKYARD_API_KEY
    job = taskyard.wait(taskyard.upload_dataset(Path("sales.csv")))
"""

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import anyio
import httpx

from client import calls
from client.calls import SERVICES, Call, TaskyardError

FINISHED = frozenset({"succeeded", "failed", "cancelled"})
RETRY = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Job:
    """A job where the gateway shows it (``/ingest/datasets/<id>``), and its last view."""

    location: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        return float(self.data.get("progress", 0.0))

    def updated(self, data: dict[str, Any]) -> "Job":
        return Job(self.location, {**self.data, **data})


def _job(response: httpx.Response, location: str | None = None) -> Job:
    return Job(response.headers.get("Location") or location or "", response.json())


def _event(line: str) -> dict[str, Any] | None:
    return json.loads(line[5:]) if line.startswith("data:") else None


class _Base:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry_for: float = 60.0,
    ) -> None:
        """``url`` and ``api_key`` default to TASKYARD_URL and TASKYARD_API_KEY; retries of
        429/503 and refused connections stop after ``retry_for`` seconds in all."""
        self.url, key = calls.settings(url, api_key)
        self.headers = {"Authorization": f"Bearer {key}"}
        self.retry_for = retry_for
        self.timeout = timeout

    def _request(self, call: Call, content: Any) -> dict[str, Any]:
        return {
            "method": call.method,
            "url": call.path,
            "json": call.json,
            "params": call.params,
            "content": content,
            "headers": call.headers,
        }

    def _next_delay(
        self, outcome: httpx.Response | httpx.TransportError, attempt: int, started: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to stop here. Safe for a POST too:
        its retries carry the same Idempotency-Key."""
        if isinstance(outcome, httpx.Response):
            if outcome.status_code not in RETRY:
                return None
            delay = calls.retry_delay(outcome, attempt)
        else:
            delay = min(10.0, 0.5 * 2.0**attempt)
        return delay if time.monotonic() + delay - started <= self.retry_for else None

    def _result(self, outcome: httpx.Response | httpx.TransportError) -> httpx.Response:
        if isinstance(outcome, httpx.TransportError):
            detail = f"cannot reach {self.url}: {type(outcome).__name__}: {outcome}"
            raise TaskyardError(503, "Service Unavailable", detail, None) from outcome
        if outcome.status_code >= 400:
            raise TaskyardError.from_response(outcome)
        return outcome


class Taskyard(_Base):
    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=self.timeout)

    def __enter__(self) -> "Taskyard":
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def send(self, call: Call) -> httpx.Response:
        started = time.monotonic()
        for attempt in itertools.count():
            outcome = self._attempt(call)
            delay = self._next_delay(outcome, attempt, started)
            if delay is None:
                return self._result(outcome)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _attempt(self, call: Call) -> httpx.Response | httpx.TransportError:
        try:
            if call.file:
                with call.file.open("rb") as body:
                    return self.http.request(**self._request(call, body))
            return self.http.request(**self._request(call, call.content))
        except httpx.TransportError as error:
            return error

    def upload_dataset(
        self, file: Path, name: str | None = None, columns: str | None = None
    ) -> Job:
        return _job(self.send(calls.upload_dataset(file, name, columns)))

    def send_email(
        self, to: list[str], template: str, variables: dict[str, Any], **extra: Any
    ) -> Job:
        return _job(self.send(calls.send_email(to, template, variables, **extra)))

    def create_report(self, spec: dict[str, Any]) -> Job:
        return _job(self.send(calls.create_report(spec)))

    def get(self, job: Job) -> Job:
        return _job(self.send(Call("GET", job.location)), job.location)

    def find(self, job_id: str) -> Job:
        """A job by id alone, in whichever service has it."""
        for service in SERVICES:
            try:
                return self.get(Job(calls.job_path(service, job_id), {}))
            except TaskyardError as error:
                if error.status != 404:
                    raise
        raise TaskyardError(404, "Not Found", f"no job {job_id} in any service", None)

    def events(self, job: Job) -> Iterator[Job]:
        """The job each time it changes, until it finishes (Server-Sent Events)."""
        with self.http.stream("GET", f"{job.location}/events") as response:
            if response.status_code >= 400:
                response.read()
                raise TaskyardError.from_response(response)
            for line in response.iter_lines():
                data = _event(line)
                if data is not None:
                    yield job.updated(data)

    def wait(self, job: Job) -> Job:
        for _ in self.events(job):
            pass  # the stream ends when the job finishes
        return self.get(job)

    def cancel(self, job: Job) -> Job:
        return _job(self.send(Call("DELETE", job.location)), job.location)

    def download(self, report: Job, path: Path) -> Path:
        path.write_bytes(self.send(Call("GET", f"{report.location}/download")).content)
        return path

    def dead_letters(self, service: str) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = self.send(Call("GET", f"/{service}/dead-letters")).json()
        return letters

    def replay(self, service: str, job_id: str) -> Job:
        return _job(self.send(Call("POST", f"/{service}/dead-letters/{job_id}/replay")))


class AsyncTaskyard(_Base):
    @cached_property
    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=self.timeout)

    async def __aenter__(self) -> "AsyncTaskyard":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def send(self, call: Call) -> httpx.Response:
        started = time.monotonic()
        for attempt in itertools.count():
            outcome = await self._attempt(call)
            delay = self._next_delay(outcome, attempt, started)
            if delay is None:
                return self._result(outcome)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attempt(self, call: Call) -> httpx.Response | httpx.TransportError:
        try:
            content = _chunks(call.file) if call.file else call.content
            return await self.http.request(**self._request(call, content))
        except httpx.TransportError as error:
            return error

    async def upload_dataset(
        self, file: Path, name: str | None = None, columns: str | None = None
    ) -> Job:
        return _job(await self.send(calls.upload_dataset(file, name, columns)))

    async def send_email(
        self, to: list[str], template: str, variables: dict[str, Any], **extra: Any
    ) -> Job:
        return _job(await self.send(calls.send_email(to, template, variables, **extra)))

    async def create_report(self, spec: dict[str, Any]) -> Job:
        return _job(await self.send(calls.create_report(spec)))

    async def get(self, job: Job) -> Job:
        return _job(await self.send(Call("GET", job.location)), job.location)

    async def events(self, job: Job) -> AsyncIterator[Job]:
        async with self.http.stream("GET", f"{job.location}/events") as response:
            if response.status_code >= 400:
                await response.aread()
                raise TaskyardError.from_response(response)
            async for line in response.aiter_lines():
                data = _event(line)
                if data is not None:
                    yield job.updated(data)

    async def wait(self, job: Job) -> Job:
        async for _ in self.events(job):
            pass  # the stream ends when the job finishes
        return await self.get(job)

    async def cancel(self, job: Job) -> Job:
        return _job(await self.send(Call("DELETE", job.location)), job.location)

    async def download(self, report: Job, path: Path) -> Path:
        response = await self.send(Call("GET", f"{report.location}/download"))
        await anyio.Path(path).write_bytes(response.content)
        return path

    async def dead_letters(self, service: str) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = (
            await self.send(Call("GET", f"/{service}/dead-letters"))
        ).json()
        return letters

    async def replay(self, service: str, job_id: str) -> Job:
        return _job(await self.send(Call("POST", f"/{service}/dead-letters/{job_id}/replay")))


async def _chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as file:
        while chunk := await file.read(size):
            yield chunk
