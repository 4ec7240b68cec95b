"""The email API: ``uvicorn --factory services.email.api:create_app``."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Request, Response
from sse_starlette import EventSourceResponse

from services.common.api.app import create_app as create_service_app
from services.common.api.auth import CallerDep
from services.common.api.jobs import (
    EVENT_STREAM_ROUTE,
    LedgerDep,
    cancel_job,
    find_job,
    job_events,
    location,
)
from services.common.api.problems import Problem, problem_responses
from services.common.headers import check_header_text
from services.common.jobs.ledger import Submission
from services.common.jobs.model import Job
from services.common.request_id import current_request_id
from services.email import SEND, SERVICE
from services.email.schemas import Delivery, MessageIn, MessageView
from services.email.settings import EmailSettings
from services.email.templates import TemplateProblem, render

router = APIRouter(tags=["messages"])


@router.post(
    "/messages",
    status_code=202,
    response_model=MessageView,
    summary="Send a templated message",
    responses=problem_responses(400, 429),
)
async def submit_message(
    request: Request,
    response: Response,
    message: MessageIn,
    ledger: LedgerDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> MessageView:
    settings: EmailSettings = request.app.state.settings
    if len(message.recipients()) > settings.email_max_recipients:
        raise Problem(422, f"At most {settings.email_max_recipients} recipients in all.")
    try:  # render now, so a missing variable is the client's 422, not a worker's failure
        rendered = render(message.template, message.variables)
        check_header_text(message.subject or rendered.subject)
    except (TemplateProblem, ValueError) as exc:
        raise Problem(422, f"{exc}.") from exc
    body = message.model_dump_json().encode()
    job, _ = await ledger.submit(
        Submission(
            task=SEND,
            tenant=caller.tenant,
            body_hash=hashlib.sha256(body).hexdigest(),
            payload=message.model_dump(),
            idempotency_key=idempotency_key,
            request_id=current_request_id(),
        )
    )
    response.headers["Location"] = location(request, f"/messages/{job.id}")
    return message_view(request, job)


@router.get(
    "/messages/{message_id}",
    response_model=MessageView,
    summary="A message's status",
    responses=problem_responses(404),
)
async def get_message(
    request: Request, message_id: str, ledger: LedgerDep, caller: CallerDep
) -> MessageView:
    return message_view(request, await find_job(ledger, caller, message_id))


@router.get(
    "/messages/{message_id}/events",
    summary="A message's status as Server-Sent Events",
    **EVENT_STREAM_ROUTE,
)
async def message_events(
    request: Request, message_id: str, ledger: LedgerDep, caller: CallerDep
) -> EventSourceResponse:
    return job_events(request, ledger, await find_job(ledger, caller, message_id))


@router.delete(
    "/messages/{message_id}",
    response_model=MessageView,
    summary="Cancel a message",
    responses=problem_responses(404, 409),
)
async def cancel_message(
    request: Request, message_id: str, ledger: LedgerDep, caller: CallerDep
) -> MessageView:
    return message_view(request, await cancel_job(ledger, caller, message_id))


def message_view(request: Request, job: Job) -> MessageView:
    """The owner sees the outcome and how many recipients, never the addresses again."""
    payload = job.payload
    base = location(request, f"/messages/{job.id}")
    return MessageView.model_validate(
        {
            **job.model_dump(),
            "template": payload["template"],
            "recipients": len(payload["to"]) + len(payload["cc"]) + len(payload["bcc"]),
            "delivery": Delivery.model_validate(job.result) if job.result else None,
            "links": {"self": base, "events": f"{base}/events"},
        }
    )


def create_app(settings: EmailSettings | None = None) -> FastAPI:
    return create_service_app(
        service=SERVICE,
        settings=settings or EmailSettings(),
        routers=[router],
        summary="Templated mail out over SMTP: retried, never sent twice, never injectable.",
    )
