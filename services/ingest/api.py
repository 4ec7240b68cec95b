"""The ingest API: ``uvicorn --factory services.ingest.api:create_app``."""

from contextlib import suppress
from dataclasses import asdict
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, Response
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
from services.common.broker import UNAVAILABLE
from services.common.jobs.ledger import IdempotencyConflict, Ledger, Submission
from services.common.jobs.model import JobStatus, as_utc, new_job_id
from services.common.request_id import current_request_id
from services.ingest import LOAD_DATASET, SERVICE, store
from services.ingest.schemas import DatasetIn, DatasetView, RecordOut, RecordPage
from services.ingest.settings import IngestSettings
from services.ingest.uploads import JSON, incoming, store_stream

UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": DatasetIn.model_json_schema()},
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
DatasetName = Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
DatasetId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


router = APIRouter(tags=["datasets"])


@router.post(
    "/datasets",
    status_code=202,
    response_model=DatasetView,
    summary="Submit a dataset: a JSON batch, or a CSV or NDJSON body with ?name=",
    responses=problem_responses(413, 415, 429),
    openapi_extra=UPLOAD_DOC,
)
async def submit_dataset(
    request: Request,
    response: Response,
    ledger: LedgerDep,
    caller: CallerDep,
    engine: EngineDep,
    name: Annotated[str | None, DatasetName] = None,
    columns: Annotated[str, Query(max_length=2000, description="e.g. id:integer,city")] = "",
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> DatasetView:
    settings: IngestSettings = request.app.state.settings
    # Fail fast on a broker outage before an upload of any size is read and stored.
    await ledger.ready()
    body = await incoming(request, settings, name=name, columns=columns)
    dataset_id = new_job_id()
    spec = [asdict(column) for column in body.columns]
    await to_thread.run_sync(
        lambda: store.create_dataset(
            engine,
            id=dataset_id,
            tenant=caller.tenant,
            name=body.name,
            format=body.format,
            columns=spec,
        )
    )
    try:
        stored = await store_stream(
            engine,
            dataset_id,
            body.pieces,
            chunk_bytes=settings.ingest_chunk_bytes,
            salt=f"{body.format}\n{body.name}\n{spec}\n".encode(),
        )
    except Exception:  # too large, empty, the client went away: nothing was accepted
        await to_thread.run_sync(store.delete_dataset, engine, dataset_id)
        raise
    submission = Submission(
        task=LOAD_DATASET,
        tenant=caller.tenant,
        body_hash=stored.sha256,
        idempotency_key=idempotency_key,
        request_id=current_request_id(),
        job_id=dataset_id,
    )
    try:
        job, created = await ledger.submit(submission)
    except IdempotencyConflict:
        await to_thread.run_sync(store.delete_dataset, engine, dataset_id)
        raise
    except UNAVAILABLE:
        await forget_unless_queued(engine, ledger, dataset_id)
        raise
    if not created:  # the same request again: answer with the first one's dataset
        await to_thread.run_sync(store.delete_dataset, engine, dataset_id)
    response.headers["Location"] = location(request, f"/datasets/{job.id}")
    return await dataset_view(request, engine, ledger, caller, job.id)


@router.get(
    "/datasets/{dataset_id}",
    response_model=DatasetView,
    summary="A dataset's status",
    responses=problem_responses(404),
)
async def get_dataset(
    request: Request, dataset_id: DatasetId, ledger: LedgerDep, caller: CallerDep, engine: EngineDep
) -> DatasetView:
    return await dataset_view(request, engine, ledger, caller, dataset_id)


@router.get(
    "/datasets/{dataset_id}/records",
    response_model=RecordPage,
    summary="A page of stored rows",
    responses=problem_responses(404),
)
async def list_records(
    dataset_id: DatasetId,
    caller: CallerDep,
    engine: EngineDep,
    cursor: Annotated[int, Query(ge=0, lt=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecordPage:
    await owned_dataset(engine, caller, dataset_id)
    rows = await to_thread.run_sync(store.page_records, engine, dataset_id, cursor, limit)
    return RecordPage(
        items=[RecordOut(line=line, values=values) for line, values in rows],
        next_cursor=rows[-1][0] if len(rows) == limit else None,
    )


@router.get(
    "/datasets/{dataset_id}/events",
    summary="A dataset's status as Server-Sent Events",
    **EVENT_STREAM_ROUTE,
)
async def dataset_events(
    request: Request, dataset_id: DatasetId, ledger: LedgerDep, caller: CallerDep
) -> EventSourceResponse:
    return job_events(request, ledger, await find_job(ledger, caller, dataset_id))


@router.delete(
    "/datasets/{dataset_id}",
    response_model=DatasetView,
    summary="Cancel a load",
    responses=problem_responses(404, 409),
)
async def cancel_dataset(
    request: Request, dataset_id: DatasetId, ledger: LedgerDep, caller: CallerDep, engine: EngineDep
) -> DatasetView:
    await cancel_job(ledger, caller, dataset_id)
    return await dataset_view(request, engine, ledger, caller, dataset_id)


async def forget_unless_queued(engine: Engine, ledger: Ledger, dataset_id: str) -> None:
    """The connection failed around EXEC, which may have been applied: keep the upload unless
    the ledger can tell that the job does not exist."""
    with suppress(*UNAVAILABLE):
        if await ledger.get(dataset_id) is None:
            await to_thread.run_sync(store.delete_dataset, engine, dataset_id)


async def owned_dataset(engine: Engine, caller: Principal, dataset_id: str) -> store.Dataset:
    dataset = await to_thread.run_sync(store.get_dataset, engine, dataset_id)
    if dataset is None or not caller.may_see(dataset.tenant):
        raise Problem(404, f"No dataset {dataset_id}.")
    return dataset


async def dataset_view(
    request: Request, engine: Engine, ledger: Ledger, caller: Principal, dataset_id: str
) -> DatasetView:
    # The worker stores rows and counts before it marks the job done, so reading the job
    # first means a finished job always comes with its counts.
    job = await ledger.get(dataset_id)
    dataset = await owned_dataset(engine, caller, dataset_id)
    if job is None and dataset.finished_at is None:
        raise Problem(404, f"No dataset {dataset_id}.")
    problems = await to_thread.run_sync(
        store.rejection_sample, engine, dataset_id, request.app.state.settings.ingest_error_sample
    )
    base = location(request, f"/datasets/{dataset_id}")
    return DatasetView.model_validate(
        {
            **asdict(dataset),
            # A finished job's ledger record expires; the dataset's own done marker remains.
            "created_at": job.created_at if job else as_utc(dataset.created_at),
            "status": job.status if job else JobStatus.succeeded,
            "progress": job.progress if job else 1.0,
            "attempts": job.attempts if job else 0,
            "started_at": job.started_at if job else None,
            "finished_at": job.finished_at if job else as_utc(dataset.finished_at),
            "error": job.error if job else None,
            "request_id": job.request_id if job else None,
            "counts": dataset.counts(),
            "errors": [{"line": line, "reason": reason} for line, reason in problems],
            "links": {"self": base, "records": f"{base}/records", "events": f"{base}/events"},
        }
    )


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[router],
        summary="Datasets in: JSON batches, CSV or NDJSON uploads, validated row by row.",
        resources=data_store(settings.database_url, store.create_schema),
    )
