"""Answer requests whose line or headers are too large with 414 or 431, instead of dropping them;
and give every request HTTP_HEADER_TIMEOUT seconds to send its headers (408 after that).

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

daphne has no deadline for reading a request's headers either: Twisted's timeout is an idle
timeout (12 hours by default) that every byte restarts, so a client sending one header byte
a minute ("slowloris") holds its connection for ever, and a few thousand such clients hold
the process's sockets. The deadline starts when a connection opens and again when a
keep-alive connection's response is done; the end of the headers stops it. A request body
and a WebSocket run without it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from twisted.web.http import HTTPChannel

ABORT_AFTER = 5.0
REASONS = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}
DEADLINE = "_pulseguard_header_deadline"


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


def start_deadline(channel: Any) -> None:
    from twisted.internet import reactor

    stop_deadline(channel)
    setattr(channel, DEADLINE, reactor.callLater(settings.HTTP_HEADER_TIMEOUT, headers_too_slow, channel))


def stop_deadline(channel: Any) -> None:
    call = getattr(channel, DEADLINE, None)
    if call is not None and call.active():
        call.cancel()
    setattr(channel, DEADLINE, None)


def headers_too_slow(channel: Any) -> None:
    setattr(channel, DEADLINE, None)
    if channel.transport is not None and channel.transport.connected:
        respond_and_close(channel, 408)


_connection_made = HTTPChannel.connectionMade
_all_headers_received = HTTPChannel.allHeadersReceived
_request_done = HTTPChannel.requestDone
_connection_lost = HTTPChannel.connectionLost


def connection_made(self: Any) -> None:
    _connection_made(self)
    start_deadline(self)


def all_headers_received(self: Any) -> None:
    stop_deadline(self)
    _all_headers_received(self)


def request_done(self: Any, request: Any) -> None:
    _request_done(self, request)
    if self.persistent and self.transport is not None and self.transport.connected and not self.requests:
        start_deadline(self)  # the next request on this keep-alive connection


def connection_lost(self: Any, reason: Any) -> None:
    stop_deadline(self)
    _connection_lost(self, reason)


def install() -> None:
    """Patch Twisted's HTTPChannel once (idempotent)."""
    if HTTPChannel.lineReceived is not line_received:
        HTTPChannel.lineLengthExceeded = line_length_exceeded
        HTTPChannel.lineReceived = line_received
        HTTPChannel.connectionMade = connection_made
        HTTPChannel.allHeadersReceived = all_headers_received
        HTTPChannel.requestDone = request_done
        HTTPChannel.connectionLost = connection_lost
