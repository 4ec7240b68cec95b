"""Email's task: a thin wrapper over delivery.deliver."""

from functools import cache
from typing import Any

from services.common.broker import sync_client
from services.common.jobs.keys import QueueKeys
from services.common.ratelimit import SlotReserver
from services.common.tasks import JobContext
from services.email import SEND, SERVICE, delivery
from services.email.outbox import Outbox
from services.email.smtp import Mailer, SmtpTarget
from services.email.worker import app, settings

KEYS = QueueKeys(settings.key_namespace, SERVICE)


@cache
def mailer() -> Mailer:
    """One SMTP connection per pool process, made there on first use."""
    return Mailer(SmtpTarget.from_url(settings.smtp_url, settings.email_smtp_timeout))


@cache
def outbox() -> Outbox:
    return Outbox(sync_client(settings), KEYS, settings.finished_job_ttl_seconds)


@cache
def domain_slots() -> SlotReserver:
    return SlotReserver(sync_client(settings), f"{KEYS.prefix}rate:", settings.email_domain_rate)


@app.task(name=SEND)
def send(context: JobContext) -> dict[str, Any]:
    return delivery.deliver(context, mailer(), outbox(), domain_slots(), settings.email_sender)
