"""Build the MIME message: a text part and an HTML part, headers checked by the policy.

The API already refused line breaks in every header value; the standard library's strict SMTP
policy refuses them again here, so nothing slips through if bad data were ever reached.
"""

import secrets
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from functools import cache, lru_cache
from typing import Any

from services.common.headers import check_header_text
from services.email.templates import render


class _HeaderRegistry(HeaderRegistry):
    """The standard registry, keeping what it makes. The standard one makes a new class for
    every header set, and parses every value anew, though the sender and the content headers
    are the same in every message: most of the time a message took to compose. Those
    are kept (header objects are immutable, so messages may share them); what differs from
    one message to the next (recipients, subject, date, id) is parsed each time."""

    _SHARED = frozenset({"from", "mime-version", "content-type", "content-transfer-encoding"})

    def __init__(self) -> None:
        super().__init__()
        self._class = cache(super().__getitem__)
        self._shared = lru_cache(maxsize=64)(super().__call__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        return self._class(name.lower())

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if name.lower() in self._SHARED and isinstance(value, str):
            return self._shared(name, value)
        return super().__call__(name, value)


POLICY = SMTP.clone(raise_on_defect=True, header_factory=_HeaderRegistry())


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
    message.set_boundary(_boundary(rendered.text, rendered.html))
    return message


def _boundary(*parts: str) -> str:
    """A random boundary that no part contains. Left unset, the email package finds one as
    it writes the message, with a regular expression compiled anew for each message."""
    while True:
        boundary = f"=_{secrets.token_hex(16)}"
        if not any(boundary in part for part in parts):
            return boundary
