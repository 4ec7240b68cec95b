"""Send one job's message: at most once per job, spread per recipient domain."""

import time
from typing import Any

from services.common.failpoints import failpoint
from services.common.ratelimit import SlotReserver
from services.common.tasks import JobContext, RejectedInput
from services.email.compose import compose
from services.email.outbox import Outbox
from services.email.smtp import Mailer
from services.email.templates import TemplateProblem


def deliver(
    context: JobContext, mailer: Mailer, outbox: Outbox, slots: SlotReserver, sender: str
) -> dict[str, Any]:
    job = context.job
    done = outbox.accepted(job.id)
    if done is not None:  # accepted on an earlier run that died before it was marked done
        return done
    try:
        message = compose(job.id, job.payload, sender)
    except (TemplateProblem, ValueError) as exc:  # the API checks this; a template changed since
        raise RejectedInput(str(exc)) from exc
    recipients = [*job.payload["to"], *job.payload["cc"], *job.payload["bcc"]]
    domains = {address.rpartition("@")[2].lower() for address in recipients}
    # Reserve a slot with every recipient domain, then wait for the latest of them.
    time.sleep(max(slots.reserve(domain) for domain in domains))
    accepted = mailer.send(message, sender, recipients)
    delivery = {
        "message_id": message["Message-ID"],
        "smtp_code": accepted.code,
        "smtp_reply": accepted.reply,
        "refused": accepted.refused,
    }
    outbox.record(job.id, delivery)
    failpoint("email.after_accept")
    return delivery
