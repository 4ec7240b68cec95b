"""Delivery over SMTP_URL with one reused connection per worker process.

smtp://host:port (plain), smtps://host:port (TLS from the start), smtp+starttls://host:port;
user:password@ in the URL when the server wants credentials. Transient failures (4xx replies,
refused connections, timeouts) raise TransientError; 5xx replies raise SmtpRejected.
"""

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Self
from urllib.parse import unquote, urlsplit

from services.common.tasks import TransientError

SCHEMES = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}
# Servers name the address they refuse ("550 5.1.1 <ann@example.com>: Recipient address
# rejected"), and a reply becomes the job's error, which is logged. The domain tells an operator
# which server refused; the mailbox is nobody's business there.
_ADDRESS = re.compile(r"[^\s<>@\"'(),;:]+@([^\s<>@\"'(),;:]+)")


class SmtpRejected(Exception):
    """The server refused for good (a 5xx reply): retrying would not help."""


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float) -> Self:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"SMTP_URL must be one of {', '.join(SCHEMES)}://host[:port]")
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port or SCHEMES[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    def connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        client.ehlo()
        if self.scheme == "smtp+starttls":
            client.starttls(context=context)
            client.ehlo()
        if self.username:
            client.login(self.username, self.password or "")
        return client


@dataclass(frozen=True)
class Accepted:
    code: int
    reply: str
    refused: int


class Mailer:
    """Holds the process's connection; reconnects once when the server dropped it."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self._client: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> Accepted:
        try:
            try:
                return self._send_once(message, sender, recipients)
            except smtplib.SMTPServerDisconnected:
                self._client = None  # servers close idle connections: one fresh try
                return self._send_once(message, sender, recipients)
        except smtplib.SMTPResponseException as exc:  # a reply: the connection stays usable
            # Not chained: the cause holds the raw reply, and the logs would show it.
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except OSError as exc:  # refused, timed out, dropped
            self._client = None
            raise TransientError(f"SMTP connection failed: {type(exc).__name__}") from exc

    def _send_once(self, message: EmailMessage, sender: str, recipients: list[str]) -> Accepted:
        if self._client is None:
            self._client = self.target.connect()
        client = self._client
        code, reply = client.mail(sender)
        if code != 250:
            client.rset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for recipient in recipients:
            rcpt_code, rcpt_reply = client.rcpt(recipient)
            if rcpt_code not in (250, 251):
                refused[recipient] = (rcpt_code, rcpt_reply)
        if len(refused) == len(recipients):
            client.rset()
            # Any 4xx among them means "later"; only all-5xx is final.
            worst = min(refused.values(), key=lambda answer: answer[0] // 100)
            raise smtplib.SMTPResponseException(*worst)
        code, reply = client.data(message.as_bytes())
        if code != 250:
            client.rset()
            raise smtplib.SMTPResponseException(code, reply)
        return Accepted(code=code, reply=reply.decode(errors="replace"), refused=len(refused))


def _classify(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    text = _ADDRESS.sub(r"***@\1", text)
    if 400 <= code < 500:
        return TransientError(f"SMTP {code} {text}")
    return SmtpRejected(f"SMTP {code} {text}")
