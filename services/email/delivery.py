"""Send one job's message: at most once per job, spread per recipient domain."""

import time

from services.common.failpoints import failpoint
from services.common.ratelimit import SlotReserver
from services.common.tasks import JobContext, RejectedInput
from services.email.compose import compose
from services.email.smtp import Mailer
from services.email.templates import TemplateProblem


def deliver(context: JobContext, mailer: Mailer, slots: SlotReserver | None, sender: str) -> None:
    """``slots`` is None where sends to a domain are not limited."""
    job = context.job
    try:
        message = compose(job.id, job.payload, sender)
    except (TemplateProblem, ValueError) as exc:  # the API checks this; a template changed since
        raise RejectedInput(str(exc)) from exc
    recipients = [*job.payload["to"], *job.payload["cc"], *job.payload["bcc"]]
    if slots is not None:
        domains = {address.rpartition("@")[2].lower() for address in recipients}
        # Reserve a slot with every recipient domain, then wait for the latest of them.
        time.sleep(max(slots.reserve(domain) for domain in domains))
    accepted = mailer.send(message, sender, recipients)
    # The job's success is the "sent" mark, written right after the server's 250: a run that
    # dies from here on, or a redelivered message, finds the job finished and sends nothing.
    context.succeed(
        {
            "message_id": message["Message-ID"],
            "smtp_code": accepted.code,
            "smtp_reply": accepted.reply,
            "refused": accepted.refused,
        }
    )
    failpoint("email.after_accept")
