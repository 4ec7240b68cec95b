"""Liveness without I/O, readiness with a broker round trip."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.api.problems import problem_responses, unavailable
from services.common.broker import UNAVAILABLE
from services.common.metrics import scrape_registry

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The broker is reachable",
    response_model=None,
    responses=problem_responses(503),
)
async def readyz(request: Request) -> JSONResponse | dict[str, str]:
    try:
        await request.app.state.ledger.ready()
    except UNAVAILABLE:
        return unavailable(request, request.app.state.settings.retry_after_seconds)
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST)
