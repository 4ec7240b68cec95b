"""Job routes every service has: status, events, cancel, and the dead-letter list.

The functions are shared with service routes that show a job under their own path
(``/ingest/datasets/{id}`` is a job too).
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

from services.common.api.auth import AdminDep, CallerDep, Principal
from services.common.api.problems import Problem, problem_responses
from services.common.jobs.ledger import Ledger
from services.common.jobs.model import Job, JobStatus


class JobState(BaseModel):
    """What every view of a job shows its owner: never the payload or the tenant."""

    id: str
    status: JobStatus
    progress: float
    attempts: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    request_id: str | None = None


class JobView(JobState):
    task: str
    result: dict[str, Any] | None

    @classmethod
    def of(cls, job: Job) -> "JobView":
        return cls.model_validate(job.model_dump())


# What a route streaming a job's Server-Sent Events declares, so that its OpenAPI shows the
# stream (each event a JobView, as FastAPI documents its own streams) rather than FastAPI's
# default JSON, or the 404 of an unknown job.
_JOB_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"const": "job"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/JobView"},
        },
    },
}
EVENT_STREAM_ROUTE: dict[str, Any] = {
    "response_class": EventSourceResponse,
    "responses": {
        200: {"content": {"text/event-stream": {"itemSchema": _JOB_EVENT}}},
        **problem_responses(404),
    },
}


async def ledger(request: Request) -> Ledger:  # a coroutine: no thread-pool hop (auth.py)
    found: Ledger = request.app.state.ledger
    return found


LedgerDep = Annotated[Ledger, Depends(ledger)]


def location(request: Request, path: str) -> str:
    """The public path, prefix included, as clients reach it through the gateway."""
    return f"{request.scope.get('root_path', '')}{path}"


async def find_job(ledger: Ledger, caller: Principal, job_id: str) -> Job:
    job = await ledger.get(job_id)
    if job is None or not caller.may_see(job.tenant):  # another tenant's job does not exist
        raise Problem(404, f"No job {job_id}.")
    return job


async def cancel_job(ledger: Ledger, caller: Principal, job_id: str) -> Job:
    await find_job(ledger, caller, job_id)
    result = await ledger.cancel(job_id)
    if not result.applied:
        raise Problem(409, f"Job {job_id} is already {result.previous}; it cannot be cancelled.")
    return await find_job(ledger, caller, job_id)


def job_events(request: Request, ledger: Ledger, job: Job) -> EventSourceResponse:
    """Server-Sent Events: the job view each time it changes, until it finishes."""
    interval: float = request.app.state.settings.events_poll_interval

    async def stream() -> AsyncIterator[dict[str, str]]:
        last = ""
        current: Job | None = job
        while current is not None:
            data = JobView.of(current).model_dump_json()
            if data != last:
                yield {"event": "job", "data": data}
                last = data
            if current.finished:
                return
            await asyncio.sleep(interval)
            current = await ledger.get(job.id)

    # X-Accel-Buffering: no tells any proxy on the way not to hold the stream back.
    return EventSourceResponse(
        stream(), headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
    )


router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobView, summary="A job's status")
async def get_job(job_id: str, ledger: LedgerDep, caller: CallerDep) -> JobView:
    return JobView.of(await find_job(ledger, caller, job_id))


@router.get(
    "/jobs/{job_id}/events", summary="A job's status as Server-Sent Events", **EVENT_STREAM_ROUTE
)
async def stream_job(
    request: Request, job_id: str, ledger: LedgerDep, caller: CallerDep
) -> EventSourceResponse:
    return job_events(request, ledger, await find_job(ledger, caller, job_id))


@router.delete("/jobs/{job_id}", response_model=JobView, summary="Cancel a job")
async def delete_job(job_id: str, ledger: LedgerDep, caller: CallerDep) -> JobView:
    return JobView.of(await cancel_job(ledger, caller, job_id))


@router.get("/dead-letters", response_model=list[JobView], summary="Failed jobs (admin)")
async def list_dead_letters(
    ledger: LedgerDep, _: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[JobView]:
    return [JobView.of(job) for job in await ledger.dead_letters(limit)]


@router.post(
    "/dead-letters/{job_id}/replay",
    response_model=JobView,
    status_code=202,
    summary="Queue a failed job again (admin)",
)
async def replay_dead_letter(
    request: Request, response: Response, job_id: str, ledger: LedgerDep, _: AdminDep
) -> JobView:
    job = await ledger.replay(job_id)
    if job is None:
        raise Problem(404, f"No dead letter {job_id}.")
    response.headers["Location"] = location(request, f"/jobs/{job_id}")
    return JobView.of(job)
