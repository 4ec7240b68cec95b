"""A real SMTP server for tests (aiosmtpd), whose answers to DATA a test can script."""

import asyncio
import queue
from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.processes import free_port


class ScriptedHandler:
    def __init__(self) -> None:
        self.replies: deque[str] = deque()  # answers to the next DATA commands, then "250"
        self.refuse_all_with: str | None = None
        self.envelopes: list[Any] = []
        # A slow relay: each DATA waits this long before the answer, announced on ``held``.
        self.hold_seconds = 0.0
        self.held: queue.Queue[Any] = queue.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold_seconds:
            self.held.put(envelope)
            # aiosmtpd cancels this when the client goes away: nothing is accepted then.
            await asyncio.sleep(self.hold_seconds)
        if self.replies:
            return self.replies.popleft()
        if self.refuse_all_with:
            return self.refuse_all_with
        self.envelopes.append(envelope)
        return "250 2.0.0 queued"


class SmtpServer:
    """Takes a login, as a real relay would, so every test also proves the password stays
    out of the logs (not required: aiosmtpd warns about AUTH without TLS)."""

    username = "taskyard"
    password = "smtp-secret-7f3a"

    def __init__(self) -> None:
        self.handler = ScriptedHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.username}:{self.password}@127.0.0.1:{self.port}"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> AuthResult:
        valid = (auth.login, auth.password) == (self.username.encode(), self.password.encode())
        return AuthResult(success=valid)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def messages(self, message_id: str | None = None) -> list[EmailMessage]:
        parsed = [
            message_from_bytes(envelope.content, policy=policy.default)
            for envelope in self.handler.envelopes
        ]
        return [m for m in parsed if message_id is None or m["Message-ID"] == message_id]

    def recipients_of(self, message_id: str) -> list[str]:
        for envelope in self.handler.envelopes:
            if message_from_bytes(envelope.content)["Message-ID"] == message_id:
                return list(envelope.rcpt_tos)
        return []
