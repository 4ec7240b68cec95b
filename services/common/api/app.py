"""The app factory: every service's API is this plus its own routes."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

import structlog
from fastapi import APIRouter, FastAPI

from services.common.api import gateway_auth, health, jobs
from services.common.api.auth import ApiKeys
from services.common.api.problems import install_problem_handlers, problem_responses
from services.common.broker import async_client
from services.common.jobs.keys import QueueKeys
from services.common.jobs.ledger import ledger_for
from services.common.logging import configure_logging
from services.common.metrics import HttpMetricsMiddleware
from services.common.request_id import RequestIdMiddleware
from services.common.settings import Settings

Resources = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# The problems every route of a router may answer with; a service's routes add their own.
JOB_PROBLEMS = problem_responses(401, 403, 404, 409, 422, 503)
SERVICE_PROBLEMS = problem_responses(401, 422, 503)


def create_app(
    *,
    service: str,
    settings: Settings,
    routers: Sequence[APIRouter],
    summary: str,
    resources: Resources | None = None,
) -> FastAPI:
    """``resources`` opens and closes what the service's own routes need (a database)."""
    configure_logging(service, log_format=settings.log_format, level=settings.log_level)
    keys = QueueKeys(settings.key_namespace, service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = async_client(settings)
        app.state.ledger = ledger_for(client, settings, service)
        async with resources(app) if resources else nullcontext():
            structlog.get_logger(__name__).info("api ready", queue=keys.queue_list)
            yield
        await client.aclose()

    app = FastAPI(
        title=f"Taskyard {service}",
        summary=summary,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_keys = ApiKeys(settings.api_keys)
    install_problem_handlers(app, retry_after=settings.retry_after_seconds)
    app.add_middleware(HttpMetricsMiddleware, service=service)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(gateway_auth.router)
    app.include_router(jobs.router, responses=JOB_PROBLEMS)
    for router in routers:
        app.include_router(router, responses=SERVICE_PROBLEMS)
    return app
