"""Email's task: a thin wrapper over delivery.deliver."""

from functools import cache

from services.common.broker import sync_client
from services.common.jobs.keys import QueueKeys
from services.common.ratelimit import SlotReserver
from services.common.tasks import JobContext
from services.email import SEND, SERVICE, delivery
from services.email.smtp import Mailer, SmtpTarget
from services.email.worker import app, settings

KEYS = QueueKeys(settings.key_namespace, SERVICE)


@cache
def mailer() -> Mailer:
    """One SMTP connection per pool process, made there on first use."""
    return Mailer(SmtpTarget.from_url(settings.smtp_url, settings.email_smtp_timeout))


@cache
def domain_slots() -> SlotReserver | None:
    if not settings.email_domain_rate:
        return None
    return SlotReserver(sync_client(settings), f"{KEYS.prefix}rate:", settings.email_domain_rate)


@app.task(name=SEND)
def send(context: JobContext) -> None:
    delivery.deliver(context, mailer(), domain_slots(), settings.email_sender)
