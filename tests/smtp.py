"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.targets import free_port


class LocalSMTPServer:
    """``messages`` holds what was accepted; ``refuse_next(code)`` makes the next DATA fail.

    Used as a context manager; tests point EMAIL_HOST/EMAIL_PORT at ``host``/``port``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._refusals: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port(host)
        self._controller = Controller(self, hostname=host, port=self.port)

    def refuse_next(self, reply: str = "451 4.3.0 try again later") -> None:
        with self._lock:
            self._refusals.append(reply)

    # aiosmtpd calls this hook by name when a message has been received.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._refusals:
                return self._refusals.pop(0)
            raw: Any = envelope.original_content or envelope.content
            message = email.message_from_bytes(raw, policy=email.policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def __enter__(self) -> LocalSMTPServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
