"""Local stand-ins for the targets of SPEC §19's network kinds, each on 127.0.0.1 (or ::1) in a
thread of the test process: a DNS server answering from a dict, a WebSocket server, a TCP
server with a canned answer, and an SMTP server that offers STARTTLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
from aiohttp import WSMsgType, web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.targets import free_port


class LocalDNSServer:
    """UDP DNS on 127.0.0.1: ``records[(name, type)]`` are the answers (names without a final
    dot), ``rcodes[name]`` an rcode to answer instead (NXDOMAIN, SERVFAIL). ``queries`` counts."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.rcodes: dict[str, str] = {}
        self.queries = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            if name in self.rcodes:
                response.set_rcode(dns.rcode.from_text(self.rcodes[name]))
            else:
                values = self.records.get((name, kind), [])
                if values:
                    response.answer.append(dns.rrset.from_text(question.name, 60, "IN", kind, *values))
            self.sock.sendto(response.to_wire(), peer)

    def __enter__(self) -> LocalDNSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class _LoopThread:
    """An asyncio loop of its own in a daemon thread, for servers written with asyncio."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(2)


class LocalWebSocketServer:
    """aiohttp WebSockets on 127.0.0.1: ``/echo`` answers each text message with ``echo: <text>``,
    ``/hello`` sends ``greeting`` first, ``/silent`` never sends; ``headers`` keeps each handshake's."""

    def __init__(self, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = free_port(host)
        self.greeting = '{"status": "ok", "users": 3}'
        self.headers: list[dict[str, str]] = []
        self._ssl = ssl_context
        self._loop = _LoopThread()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        self.headers.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if request.path == "/hello":
            await ws.send_str(self.greeting)
        async for message in ws:
            if message.type == WSMsgType.TEXT and request.path == "/echo":
                await ws.send_str(f"echo: {message.data}")
        return ws

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl).start()

    def __enter__(self) -> LocalWebSocketServer:
        self._loop.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            self._loop.run(self._runner.cleanup())
        self._loop.stop()


class LocalLineServer:
    """TCP on 127.0.0.1 that reads what the client sends and answers ``reply(received)``;
    ``received`` keeps every connection's bytes. The default is a Redis-like PING/PONG."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.received: list[bytes] = []
        self.reply = lambda data: b"+PONG\r\n" if data.startswith(b"PING") else b"-ERR unknown\r\n"
        self.banner = b""
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                if self.banner:
                    conn.sendall(self.banner)
                data = conn.recv(4096)
                self.received.append(data)
                conn.sendall(self.reply(data))
                conn.recv(1)  # until the client closes
            except OSError:
                pass

    def __enter__(self) -> LocalLineServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


class _NoMail:
    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        return "250 OK"


class LocalSMTP:
    """aiosmtpd on 127.0.0.1, offering STARTTLS with ``tls_context`` when given."""

    def __init__(
        self,
        tls_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        kwargs: dict[str, Any] = {"tls_context": tls_context, "require_starttls": False} if tls_context else {}
        if implicit_tls is not None:  # TLS from the first byte, as on port 465
            kwargs["ssl_context"] = implicit_tls
        self._controller = Controller(_NoMail(), hostname=host, port=self.port, **kwargs)

    def __enter__(self) -> LocalSMTP:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
