"""Build the MIME message: a text part and an HTML part, headers checked by the policy.

The API already refused line breaks in every header value; the standard library's strict SMTP
policy refuses them again here, so nothing slips through if bad data were ever reached.
"""

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from typing import Any

from services.common.headers import check_header_text
from services.email.templates import render

POLICY = SMTP.clone(raise_on_defect=True)


def compose(job_id: str, payload: dict[str, Any], sender: str) -> EmailMessage:
    rendered = render(payload["template"], payload["variables"])
    message = EmailMessage(policy=POLICY)
    message["Subject"] = check_header_text(payload.get("subject") or rendered.subject)
    message["From"] = sender
    message["To"] = ", ".join(payload["to"])
    if payload["cc"]:
        message["Cc"] = ", ".join(payload["cc"])
    if payload.get("reply_to"):
        message["Reply-To"] = payload["reply_to"]
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # The job id makes the Message-ID stable across attempts, so in the rare case of a second
    # delivery (see the README) receivers can tell it is the same message.
    message["Message-ID"] = f"<{job_id}@{sender.rpartition('@')[2]}>"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
