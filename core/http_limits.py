"""Answer requests whose line or headers are too large with 414 or 431, instead of dropping them.

daphne parses HTTP with Twisted's ``HTTPChannel``: a request line or a header line longer than
``MAX_LENGTH`` (16 KB) closes the connection without a word (``LineReceiver.lineLengthExceeded``),
and headers over ``totalHeadersSize`` (16 KB) get a bare 400 and a close that can reach the
client as a reset. Neither can be configured from daphne, so ``install()`` (called by
``core.asgi``, which daphne imports before it listens) gives that one class two answers:

- 414 URI Too Long when the request line is too long (a query string over 16 KB);
- 431 Request Header Fields Too Large when a header line or all headers together are.

The limits stay Twisted's; only the answer changes. After answering, the rest of what the
client sends is read and discarded until it closes (or ABORT_AFTER seconds), so the answer
is not lost to a reset.
"""

from __future__ import annotations

from typing import Any

from twisted.web.http import HTTPChannel

ABORT_AFTER = 5.0
REASONS = {414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


def respond_and_close(channel: Any, status: int) -> None:
    # Imported here: importing the reactor at module level would install Twisted's default one
    # before daphne installs its asyncio reactor.
    from twisted.internet import reactor

    body = REASONS[status] + b"\n"
    channel.transport.write(
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (status, REASONS[status], len(body), body)
    )
    # Stop parsing; drain what is still coming, half-close, and give up after ABORT_AFTER.
    channel.dataReceived = channel.lineReceived = lambda *args: None
    channel.setTimeout(None)
    if hasattr(channel.transport, "loseWriteConnection"):
        channel.transport.loseWriteConnection()
    reactor.callLater(ABORT_AFTER, channel.transport.abortConnection)


def _first_line(channel: Any) -> bool:
    return bool(channel._HTTPChannel__first_line)  # Twisted's private "no request line yet" flag


def line_length_exceeded(self: Any, line: bytes) -> None:
    respond_and_close(self, 414 if _first_line(self) else 431)


_line_received = HTTPChannel.lineReceived


def line_received(self: Any, line: bytes) -> None:
    if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
        respond_and_close(self, 414 if _first_line(self) else 431)
        return
    _line_received(self, line)


def install() -> None:
    """Patch Twisted's HTTPChannel once (idempotent)."""
    if HTTPChannel.lineReceived is not line_received:
        HTTPChannel.lineLengthExceeded = line_length_exceeded
        HTTPChannel.lineReceived = line_received
