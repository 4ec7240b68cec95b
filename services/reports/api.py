"""The reports API: ``uvicorn --factory services.reports.api:create_app``."""

import hashlib
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Header, Path, Request, Response
from sqlalchemy import Engine
from sse_starlette import EventSourceResponse

from services.common.api.app import create_app as create_service_app
from services.common.api.auth import CallerDep, Principal
from services.common.api.data import EngineDep, data_store
from services.common.api.jobs import (
    EVENT_STREAM_ROUTE,
    LedgerDep,
    cancel_job,
    find_job,
    job_events,
    location,
)
from services.common.api.problems import Problem, problem_responses
from services.common.jobs.ledger import Submission
from services.common.jobs.model import Job, as_utc, new_job_id, utcnow
from services.common.request_id import current_request_id
from services.reports import BUILD, SERVICE, schedules, store
from services.reports.schedules import parse_cron
from services.reports.schemas import ReportIn, ReportSpec, ReportView, ScheduleIn, ScheduleView
from services.reports.settings import ReportsSettings
from services.reports.source import Dataset, find_dataset
from services.reports.worker import app as celery_app

ReportId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
router = APIRouter(tags=["reports"])


@router.post(
    "/",
    status_code=202,
    response_model=ReportView,
    summary="Build a report, now or later",
    responses=problem_responses(400, 429),
)
async def submit_report(
    request: Request,
    response: Response,
    report: ReportIn,
    ledger: LedgerDep,
    caller: CallerDep,
    engine: EngineDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> ReportView:
    await check_spec(engine, caller, report)
    run_at = as_utc(report.run_at)  # an offset-less time is UTC
    delay = (run_at - utcnow()).total_seconds() if run_at else 0.0
    late = delay > ledger.max_countdown  # beyond the visibility window: the beat releases it
    payload = report.model_dump(mode="json") | {"run_at": run_at.isoformat() if run_at else None}
    job, _ = await ledger.submit(
        Submission(
            task=BUILD,
            tenant=caller.tenant,
            body_hash=hashlib.sha256(report.model_dump_json().encode()).hexdigest(),
            payload=payload,
            idempotency_key=idempotency_key,
            request_id=current_request_id(),
            countdown=delay if delay > 0 and not late else None,
            release_at=run_at if late else None,
        )
    )
    response.headers["Location"] = location(request, f"/{job.id}")
    return report_view(request, job)


async def check_spec(engine: Engine, caller: Principal, report: ReportSpec) -> None:
    dataset = await to_thread.run_sync(find_dataset, engine, report.dataset_id)
    if dataset is None or not caller.may_see(dataset.tenant):
        raise Problem(422, f"No finished dataset {report.dataset_id}.")
    check_fields(report, dataset)


def check_fields(report: ReportSpec, dataset: Dataset) -> None:
    """Every named field must exist; sums, averages and bounds need numeric fields."""
    known = ", ".join(sorted(dataset.fields)) or "none"
    named = [*report.group_by, *(f.field for f in report.filters)]
    named += [m.field for m in report.metrics if m.field]
    for name in named:
        if name not in dataset.fields:
            raise Problem(422, f"Unknown field {name!r} in dataset {dataset.id}; it has: {known}.")
    for metric in report.metrics:
        if metric.op != "count" and metric.field and not dataset.numeric(metric.field):
            raise Problem(
                422,
                f"{metric.label} needs a numeric field; declare it when ingesting "
                f"(?columns={metric.field}:number).",
            )
    for rule in report.filters:
        if dataset.numeric(rule.field) and not isinstance(rule.value, int | float):
            raise Problem(422, f"The filter on {rule.field!r} needs a number.")


@router.post(
    "/schedules",
    status_code=201,
    response_model=ScheduleView,
    summary="Build a report on a cron schedule",
    responses=problem_responses(400),
)
async def create_schedule(
    request: Request, response: Response, schedule: ScheduleIn, caller: CallerDep, engine: EngineDep
) -> ScheduleView:
    await check_spec(engine, caller, schedule)
    try:
        parse_cron(schedule.cron)
    except ValueError as exc:
        raise Problem(422, f"Bad cron {schedule.cron!r}: {exc}.") from exc
    schedule_id = new_job_id()
    spec = ReportSpec.model_validate(schedule.model_dump(exclude={"cron"})).model_dump(mode="json")
    await to_thread.run_sync(
        schedules.save, celery_app, schedule_id, schedule.cron, caller.tenant, spec
    )
    response.headers["Location"] = location(request, f"/schedules/{schedule_id}")
    return await schedule_view(request, caller, schedule_id)


@router.get(
    "/schedules/{schedule_id}",
    response_model=ScheduleView,
    summary="A schedule and its reports",
    responses=problem_responses(404),
)
async def get_schedule(request: Request, schedule_id: ReportId, caller: CallerDep) -> ScheduleView:
    return await schedule_view(request, caller, schedule_id)


@router.delete(
    "/schedules/{schedule_id}",
    status_code=204,
    summary="Stop a schedule",
    responses=problem_responses(404),
)
async def delete_schedule(request: Request, schedule_id: ReportId, caller: CallerDep) -> Response:
    await schedule_view(request, caller, schedule_id)  # 404 unless the caller's
    entry = await to_thread.run_sync(schedules.load, celery_app, schedule_id)
    if entry is not None:
        await to_thread.run_sync(entry.delete)
    return Response(status_code=204)


async def schedule_view(request: Request, caller: Principal, schedule_id: str) -> ScheduleView:
    entry = await to_thread.run_sync(schedules.load, celery_app, schedule_id)
    if entry is None or not caller.may_see(entry.kwargs["tenant"]):
        raise Problem(404, f"No schedule {schedule_id}.")
    client = request.app.state.ledger.client
    jobs = await client.lrange(schedules.jobs_key(request.app.state.settings, schedule_id), 0, -1)
    return ScheduleView(
        id=schedule_id,
        cron=entry.kwargs["cron"],
        spec=ReportSpec.model_validate(entry.kwargs["spec"]),
        last_run_at=entry.last_run_at if entry.total_run_count else None,
        jobs=jobs,
        links={"self": location(request, f"/schedules/{schedule_id}")},
    )


@router.get(
    "/{report_id}",
    response_model=ReportView,
    summary="A report's status",
    responses=problem_responses(404),
)
async def get_report(
    request: Request, report_id: ReportId, ledger: LedgerDep, caller: CallerDep
) -> ReportView:
    return report_view(request, await find_job(ledger, caller, report_id))


@router.get(
    "/{report_id}/events",
    summary="A report's progress as Server-Sent Events",
    **EVENT_STREAM_ROUTE,
)
async def report_events(
    request: Request, report_id: ReportId, ledger: LedgerDep, caller: CallerDep
) -> EventSourceResponse:
    return job_events(request, ledger, await find_job(ledger, caller, report_id))


@router.delete(
    "/{report_id}",
    response_model=ReportView,
    summary="Cancel a report",
    responses=problem_responses(404, 409),
)
async def cancel_report(
    request: Request, report_id: ReportId, ledger: LedgerDep, caller: CallerDep
) -> ReportView:
    return report_view(request, await cancel_job(ledger, caller, report_id))


@router.get(
    "/{report_id}/download",
    summary="The report's file (CSV, JSON or HTML)",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}, "text/html": {}}},
        **problem_responses(404, 409),
    },
)
async def download_report(
    report_id: ReportId, ledger: LedgerDep, caller: CallerDep, engine: EngineDep
) -> Response:
    found = await to_thread.run_sync(store.load, engine, report_id)
    if found is None or not caller.may_see(found[0]):
        job = await find_job(ledger, caller, report_id)  # 404 for what the caller cannot see
        raise Problem(409, f"Report {report_id} is {job.status}; there is no file yet.")
    _, file = found
    disposition = f'attachment; filename="{file.filename}"'
    return Response(
        file.body, media_type=file.content_type, headers={"Content-Disposition": disposition}
    )


def report_view(request: Request, job: Job) -> ReportView:
    base = location(request, f"/{job.id}")
    links = {"self": base, "events": f"{base}/events", "download": f"{base}/download"}
    return ReportView.from_parts(job, links)


def create_app(settings: ReportsSettings | None = None) -> FastAPI:
    settings = settings or ReportsSettings()
    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[router],
        summary="Aggregates over ingested datasets, now or later, mailed when done.",
        resources=data_store(settings.database_url, store.create_schema),
    )
