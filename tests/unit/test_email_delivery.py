"""delivery.deliver with the SMTP exchange and the rate slots stubbed: what it asks of each."""

from email.message import EmailMessage

import pytest

from services.common.jobs.model import Job, utcnow
from services.common.tasks import JobContext, RejectedInput
from services.email.delivery import deliver
from services.email.smtp import Accepted

SENDER = "no-reply@mail.test"


class Mailer:
    def __init__(self) -> None:
        self.sent: list[tuple[EmailMessage, list[str]]] = []

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> Accepted:
        self.sent.append((message, recipients))
        return Accepted(code=250, reply="2.0.0 queued", refused=0)


class Slots:
    def __init__(self) -> None:
        self.reserved: list[str] = []

    def reserve(self, key: str) -> float:
        self.reserved.append(key)
        return 0.0


def context(**payload: object) -> tuple[JobContext, list[object]]:
    now = utcnow()
    fields = {"to": ["a@Example.com"], "cc": ["c@other.test"], "bcc": ["b@example.com"]}
    fields |= {"template": "notice", "variables": {"message": "hi"}, **payload}
    job = Job(id="job-1", task="email.send", tenant="t", created_at=now, updated_at=now)
    results: list[object] = []
    job_context = JobContext(
        job=job.model_copy(update={"payload": fields}),
        report_progress=lambda _: None,
        record_success=results.append,
    )
    return job_context, results


def test_the_job_succeeds_with_the_delivery_once_the_server_accepted() -> None:
    job_context, results = context()
    mailer = Mailer()
    deliver(job_context, mailer, Slots(), SENDER)  # type: ignore[arg-type]
    [(message, recipients)] = mailer.sent
    assert recipients == ["a@Example.com", "c@other.test", "b@example.com"]
    assert results == [
        {
            "message_id": message["Message-ID"],
            "smtp_code": 250,
            "smtp_reply": "2.0.0 queued",
            "refused": 0,
        }
    ]
    assert job_context.succeeded


def test_a_slot_is_reserved_with_each_recipient_domain_once() -> None:
    slots = Slots()
    deliver(context()[0], Mailer(), slots, SENDER)  # type: ignore[arg-type]
    assert sorted(slots.reserved) == ["example.com", "other.test"]


def test_without_a_domain_rate_the_mail_goes_without_a_slot() -> None:
    mailer = Mailer()
    deliver(context()[0], mailer, None, SENDER)  # type: ignore[arg-type]
    assert len(mailer.sent) == 1


def test_a_template_that_no_longer_fits_the_variables_rejects_the_input() -> None:
    job_context, results = context(variables={})
    mailer = Mailer()
    with pytest.raises(RejectedInput):
        deliver(job_context, mailer, Slots(), SENDER)  # type: ignore[arg-type]
    assert (mailer.sent, results) == ([], [])
