"""RFC 9457 problem details for every error, validation errors and broker outages included."""

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from services.common.broker import UNAVAILABLE
from services.common.jobs.ledger import CountdownTooLong, IdempotencyConflict, QueueFull
from services.common.request_id import HEADER, current_request_id

MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger(__name__)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": _request_id(request),
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


class ProblemDetails(BaseModel):
    """The body of every error answer, as the OpenAPI documents show it."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None
    errors: list[dict[str, Any]] | None = Field(
        None, description="What is wrong with the request, field by field (422 only)"
    )


# Problems that ask the client to come back later say when.
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route may answer with.

    Inlined rather than a ``model``: FastAPI would file a model under application/json, and
    its own 422 entry would show its validation body instead of ours.
    """
    schema = ProblemDetails.model_json_schema()
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": schema}},
            **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status in statuses
    }


def _request_id(request: Request) -> str | None:
    # Unexpected errors are answered outside the request-id middleware, where the context
    # is already unbound; the id stays on the request's state.
    return current_request_id() or getattr(request.state, "request_id", None)


def unavailable(request: Request, retry_after: int) -> JSONResponse:
    return problem_response(
        request,
        503,
        "The job broker is unreachable; nothing was accepted. Try again shortly.",
        headers={"Retry-After": str(retry_after)},
    )


def install_problem_handlers(app: FastAPI, *, retry_after: int) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc.status, exc.detail, headers=exc.headers, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return problem_response(
            request, exc.status_code, str(exc.detail), headers=dict(exc.headers or {})
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Never echo the rejected input back: it may hold addresses or secrets.
        errors = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        return problem_response(request, 422, "The request is not valid.", errors=errors)

    async def on_broker_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("broker unavailable", error=type(exc).__name__)
        return unavailable(request, retry_after)

    async def on_refused(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 422, str(exc) or "The request cannot be accepted.")

    async def on_queue_full(request: Request, exc: Exception) -> JSONResponse:
        headers = {"Retry-After": str(retry_after)}
        return problem_response(request, 429, f"{exc} Try again shortly.", headers=headers)

    async def on_disconnect(request: Request, exc: Exception) -> JSONResponse:
        log.info("client went away mid-request")
        return problem_response(request, 400, "The client disconnected before the body ended.")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = _request_id(request)
        log.exception("unhandled error", request_id=request_id)
        headers = {HEADER: request_id} if request_id else None
        return problem_response(request, 500, "An unexpected error occurred.", headers=headers)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(CountdownTooLong, on_refused)
    app.add_exception_handler(IdempotencyConflict, on_refused)
    app.add_exception_handler(QueueFull, on_queue_full)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    for error in UNAVAILABLE:
        app.add_exception_handler(error, on_broker_down)
    app.add_exception_handler(Exception, on_unexpected)
