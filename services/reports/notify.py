"""Ask the email service to announce a finished report.

By task name, through the core's submit path (never by importing the email service), so the
email job is in email's own ledger, metrics and logs, and carries the report's request id.
"""

import hashlib
import json

from services.common.jobs.ledger import Submission, submit_blocking
from services.common.jobs.model import Job
from services.reports.settings import ReportsSettings

EMAIL_SERVICE = "email"
EMAIL_SEND = "email.send"


def announce(settings: ReportsSettings, report: Job, address: str, title: str) -> str:
    """Submit the report_ready mail; returns the email job's id. A second call for the same
    report (a redelivery) gets the same job back through its idempotency key."""
    payload = {
        "to": [address],
        "cc": [],
        "bcc": [],
        "template": "report_ready",
        "variables": {
            "report_name": title,
            "link": f"{settings.public_url}/reports/{report.id}/download",
        },
        "subject": None,
        "reply_to": None,
    }
    submission = Submission(
        task=EMAIL_SEND,
        tenant=report.tenant,
        body_hash=hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(),
        payload=payload,
        idempotency_key=f"report-ready:{report.id}",
        request_id=report.request_id,
    )
    job, _ = submit_blocking(settings, EMAIL_SERVICE, submission)
    return job.id
