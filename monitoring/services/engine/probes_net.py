"""Probes of the network kinds of SPEC §19: ``ping``, ``dns``, ``smtp``, ``websocket``, and ``tcp``
with ``tcp_send``/``tcp_expect``. Registered in ``probes.PROBES``.

Each is a coroutine ``probe(server, client) -> ProbeOutcome`` on the engine's one event loop:
nothing here blocks, each runs within the server's ``timeout``, and each connects only to an
address the private-address guard has vetted (``aionet.resolve``), the one it then talks to.
Network trouble is an outcome, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import ssl
import struct
import time

import aiohttp
import aiosmtplib
import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import icmplib
from django.conf import settings

from monitoring.assertions import Response
from monitoring.choices import PingStatus
from monitoring.models import Server
from monitoring.services import aionet, net
from monitoring.services.engine import http_check
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.validators import normalize_dns_text, parse_resolver, unescape_tcp

#: Bytes of a ``tcp_expect`` answer read at most (SPEC §19).
TCP_EXPECT_LIMIT = 4096
#: What an smtp check says in its EHLO.
EHLO_NAME = "pulseguard.localdomain"
#: Seconds between the echo requests of one ping check.
PING_INTERVAL = 0.2
ICMP_REFUSED = (
    "ICMP is not permitted here: the kernel refuses unprivileged ICMP sockets to this process's group "
    "(sysctl net.ipv4.ping_group_range) and it may not open raw sockets (CAP_NET_RAW)"
)


def _timeout(server: Server, what: str) -> ProbeOutcome:
    return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no {what} within {server.timeout:g}s")


def _error(message: str) -> ProbeOutcome:
    return ProbeOutcome(PingStatus.ERROR, error_message=message)


# --- ping


class _RawIcmp:
    """One raw ICMP socket per event loop and address family, shared by every ping in flight on it.

    A raw ICMP socket receives every ICMP packet that reaches the host, so with one socket per
    ping (icmplib's way) each ping parsed every other ping's replies, and ping cost about 3× an
    HTTP check at 1,000 servers (docs/PERFORMANCE.md, issue 17). The shared socket reads each packet
    once and hands an echo reply (or an error about one of its requests) to the ping waiting for
    its (identifier, sequence) from that address. It opens with the first ping in flight and closes
    with the last, so nothing outlives the loop."""

    _open: dict[tuple[asyncio.AbstractEventLoop, int], _RawIcmp] = {}
    _identifiers = itertools.count(os.getpid())
    #: Bytes of an echo request after its header, as ping(8) sends.
    PAYLOAD = bytes(56)

    def __init__(self, loop: asyncio.AbstractEventLoop, family: int) -> None:
        self.loop, self.family, self.users = loop, family, 0
        self.v6 = family == socket.AF_INET6
        self.sock = self._socket(family)
        self.sock.setblocking(False)
        # (identifier, sequence) -> (the address asked, the future its reply's arrival time resolves;
        # None for an ICMP error about the request: lost)
        self.waiting: dict[tuple[int, int], tuple[str, asyncio.Future[float | None]]] = {}
        loop.add_reader(self.sock.fileno(), self._readable)

    @staticmethod
    def _socket(family: int) -> socket.socket:
        """A raw ICMP socket: PermissionError without root or CAP_NET_RAW."""
        proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
        return socket.socket(family, socket.SOCK_RAW, proto)

    @classmethod
    async def ping(cls, family: int, address: str, count: int, per_packet: float) -> icmplib.Host:
        """``count`` echo requests to ``address``, ``PING_INTERVAL`` apart, each waiting
        ``per_packet`` seconds for its reply: what ``icmplib.async_ping`` answers."""
        loop = asyncio.get_running_loop()
        icmp = cls._open.get((loop, family))
        if icmp is None:
            icmp = cls._open[(loop, family)] = cls(loop, family)
        icmp.users += 1
        try:
            return await icmp._ping(address, count, per_packet)
        finally:
            icmp.users -= 1
            if not icmp.users:
                del cls._open[(loop, family)]
                loop.remove_reader(icmp.sock.fileno())
                icmp.sock.close()

    async def _ping(self, address: str, count: int, per_packet: float) -> icmplib.Host:
        identifier = next(self._identifiers) & 0xFFFF
        sent, rtts = 0, []
        for sequence in range(count):
            if sequence:
                await asyncio.sleep(PING_INTERVAL)
            arrival: asyncio.Future[float | None] = self.loop.create_future()
            self.waiting[(identifier, sequence)] = (address, arrival)
            try:
                started = time.perf_counter()
                try:
                    self.sock.sendto(self._request(identifier, sequence), (address, 0))
                except OSError:  # a broadcast address, an unreachable network: not sent (as icmplib)
                    continue
                sent += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(per_packet):
                        arrived = await arrival
                        if arrived is not None:
                            rtts.append((arrived - started) * 1000)
            finally:
                del self.waiting[(identifier, sequence)]
        return icmplib.Host(address, sent, rtts)

    def _request(self, identifier: int, sequence: int) -> bytes:
        if self.v6:  # the kernel fills in an ICMPv6 checksum
            return struct.pack("!BBHHH", 128, 0, 0, identifier, sequence) + self.PAYLOAD
        packet = struct.pack("!BBHHH", 8, 0, 0, identifier, sequence) + self.PAYLOAD
        total = sum(struct.unpack(f"!{len(packet) // 2}H", packet))
        total = (total & 0xFFFF) + (total >> 16)
        checksum = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
        return packet[:2] + struct.pack("!H", checksum) + packet[4:]

    def _readable(self) -> None:
        while True:
            try:
                packet, source = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an error queued on the socket: nothing to read this time
                return
            arrived = time.perf_counter()
            # IPv4 raw sockets receive the IP header too; ICMPv6 ones the ICMP message alone.
            icmp = packet if self.v6 else packet[(packet[0] & 0x0F) * 4 :] if packet else b""
            if len(icmp) < 8:
                continue
            kind = icmp[0]
            if kind == (129 if self.v6 else 0):  # echo reply
                key, result = struct.unpack_from("!HH", icmp, 4), arrived
            elif kind in ((1, 3) if self.v6 else (3, 11)):  # unreachable, time exceeded: quotes our request
                quoted = icmp[48:] if self.v6 else icmp[8 + (icmp[8] & 0x0F) * 4 :] if len(icmp) > 8 else b""
                if len(quoted) < 8 or quoted[0] != (128 if self.v6 else 8):
                    continue
                key, result = struct.unpack_from("!HH", quoted, 4), None
            else:
                continue
            waiting = self.waiting.get(key)
            if waiting is None or waiting[1].done():
                continue
            if result is not None and source[0] != waiting[0]:  # an echo reply from another host
                continue
            waiting[1].set_result(result)


class _Icmp:
    """Which ICMP socket works here: unprivileged (the kernel's ping sockets, each handed only its
    own replies; icmplib's) first, else raw (root or CAP_NET_RAW; ``_RawIcmp``'s shared one);
    found once, by the first ping."""

    privileged: bool | None = None

    @classmethod
    async def ping(cls, family: int, address: str, count: int, per_packet: float) -> icmplib.Host:
        modes = [cls.privileged] if cls.privileged is not None else [False, True]
        for privileged in modes:
            try:
                if privileged:
                    host = await _RawIcmp.ping(family, address, count, per_packet)
                else:
                    host = await icmplib.async_ping(
                        address, count=count, interval=PING_INTERVAL, timeout=per_packet, privileged=False
                    )
            except (icmplib.SocketPermissionError, PermissionError):
                continue
            cls.privileged = privileged
            return host
        raise PermissionError(ICMP_REFUSED)


async def probe_ping(server: Server, client: aionet.Client) -> ProbeOutcome:
    """``ping_count`` echo requests to the host's first vetted address; a failure when all are
    lost, or when the loss reaches ``packet_loss_threshold`` percent; the average round trip."""
    count = server.ping_count
    # Sent one after another, each waiting for its reply: together within the timeout.
    per_packet = max(0.05, (server.timeout - PING_INTERVAL * (count - 1)) / count)
    try:
        async with asyncio.timeout(server.timeout + 0.5):
            family, address = (await aionet.resolve(server.host, 0))[0]
            host = await _Icmp.ping(family, address, count, per_packet)
    except TimeoutError:
        return _timeout(server, "echo reply")
    except net.PrivateAddressError as exc:
        return _error(str(exc))
    except PermissionError as exc:
        return _error(str(exc))
    except (icmplib.ICMPLibError, OSError) as exc:
        return _error(f"ping failed: {net.reason(exc)}")
    if not host.packets_sent:
        # icmplib drops a refused send (a broadcast address, an unreachable network): not "0% loss".
        return ProbeOutcome(PingStatus.FAILURE, error_message=f"no echo request could be sent to {address}")
    loss = round(host.packet_loss * 100, 1)
    average = round(host.avg_rtt, 2) if host.packets_received else None
    seen = f"{host.packets_received}/{host.packets_sent} replies, {loss:g}% loss"
    if not host.packets_received:
        return ProbeOutcome(PingStatus.FAILURE, error_message=f"no echo reply ({seen})")
    if server.packet_loss_threshold < 100 and loss >= server.packet_loss_threshold:
        return ProbeOutcome(
            PingStatus.FAILURE,
            average,
            error_message=f"packet loss {loss:g}% ≥ {server.packet_loss_threshold}% ({seen})",
        )
    return ProbeOutcome(PingStatus.SUCCESS, average)


# --- dns


_system_nameservers: list[str] | None = None


def _system_nameserver() -> str:
    """The first nameserver of the system's resolver configuration (read once)."""
    global _system_nameservers
    if _system_nameservers is None:
        try:
            _system_nameservers = [str(ns) for ns in dns.resolver.Resolver().nameservers]
        except dns.resolver.NoResolverConfiguration:
            _system_nameservers = []
    if not _system_nameservers:
        raise OSError("the system has no DNS resolver configured: set the server's dns_resolver")
    return _system_nameservers[0]


def answer_text(rdata: object) -> str:
    """An answer as SPEC §19 writes it: TXT without quotes, CAA as ``flags tag value``, names
    without their final dot, the rest in its usual text form."""
    rdtype = rdata.rdtype  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode(errors="replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.CAA:
        return f"{rdata.flags} {rdata.tag.decode()} {rdata.value.decode(errors='replace')}"  # type: ignore[attr-defined]
    text = rdata.to_text()  # type: ignore[attr-defined]
    return text[:-1] if text.endswith(".") else text


async def probe_dns(server: Server, client: aionet.Client) -> ProbeOutcome:
    """Ask ``dns_resolver`` (or the system's) for the host's ``dns_record_type`` records; NXDOMAIN,
    SERVFAIL or no answer fail naming the rcode; every ``dns_expected`` value must be an answer."""
    rdtype = dns.rdatatype.from_text(server.dns_record_type)
    started = time.perf_counter()
    try:
        if server.dns_resolver:
            where, port = parse_resolver(server.dns_resolver)
            family = socket.AF_INET6 if ":" in where else socket.AF_INET
            net.vet(server.dns_resolver, [(family, where)])
        else:
            where, port = _system_nameserver(), 53
        query = dns.message.make_query(dns.name.from_text(server.host), rdtype)
        response, _ = await dns.asyncquery.udp_with_fallback(query, where, timeout=server.timeout, port=port)
    except dns.exception.Timeout:
        return _timeout(server, "DNS answer")
    except net.PrivateAddressError as exc:
        return _error(str(exc))
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return _error(f"DNS query failed: {net.reason(exc)}")
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    rcode = dns.rcode.to_text(response.rcode())
    # An rrset has no order: sorted, so the detail of one answer is always the same.
    answers = sorted(answer_text(rdata) for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset)
    detail = {"rcode": rcode, "answers": answers}
    if rcode != "NOERROR":
        return ProbeOutcome(PingStatus.FAILURE, elapsed, error_message=f"DNS answered {rcode}", detail=detail)
    if not answers:
        return ProbeOutcome(PingStatus.FAILURE, elapsed, error_message="no answer (NOERROR)", detail=detail)
    have = {normalize_dns_text(a) for a in answers}
    missing = [value for value in server.dns_expected if normalize_dns_text(value) not in have]
    if missing:
        message = f"expected {', '.join(map(repr, missing))} not among the answers: {', '.join(answers)}"
        return ProbeOutcome(PingStatus.FAILURE, elapsed, error_message=message[:500], detail=detail)
    return ProbeOutcome(PingStatus.SUCCESS, elapsed, detail=detail)


# --- smtp


async def probe_smtp(server: Server, client: aionet.Client) -> ProbeOutcome:
    """Read the 220 banner, EHLO, and STARTTLS where ``smtp_uses_starttls`` (port 465: TLS from
    the start), verifying the certificate by ``verify_tls`` against CERT_CA_BUNDLE."""
    port = server.effective_port
    assert port is not None, "smtp defaults to port 25"
    implicit = port == 465
    context = client.tls_context(server.verify_tls)
    started = time.perf_counter()
    smtp: aiosmtplib.SMTP | None = None
    try:
        async with asyncio.timeout(server.timeout):
            sock = await aionet.connect_vetted(server.host, port)
            smtp = aiosmtplib.SMTP(
                hostname=server.host,  # SNI and certificate name; the socket is to the vetted address
                sock=sock,
                timeout=server.timeout,
                use_tls=implicit,
                start_tls=False,
                validate_certs=server.verify_tls,
                tls_context=context or None,
                local_hostname=EHLO_NAME,  # aiosmtplib's default asks the system's DNS, blocking the loop
            )
            await smtp.connect()
            await smtp.ehlo()
            if server.smtp_uses_starttls and not implicit:
                if not smtp.supports_extension("starttls"):
                    return _error("the server does not offer STARTTLS")
                await smtp.starttls()
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            try:
                await smtp.quit()
            except aiosmtplib.SMTPException:
                smtp.close()
    except TimeoutError:
        return _timeout(server, "SMTP answer")
    except net.PrivateAddressError as exc:
        return _error(str(exc))
    except aiosmtplib.SMTPConnectResponseError as exc:
        return ProbeOutcome(PingStatus.FAILURE, error_message=f"SMTP banner {exc.code}: {exc.message}"[:500])
    except aiosmtplib.SMTPResponseException as exc:
        return ProbeOutcome(PingStatus.FAILURE, error_message=f"SMTP {exc.code}: {exc.message}"[:500])
    except aiosmtplib.SMTPTimeoutError:
        return _timeout(server, "SMTP answer")
    except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
        return _error(f"SMTP failed: {net.reason(exc)}")
    finally:
        if smtp is not None and smtp.is_connected:
            smtp.close()
    return ProbeOutcome(PingStatus.SUCCESS, elapsed)


# --- websocket


async def probe_websocket(server: Server, client: aionet.Client) -> ProbeOutcome:
    """The upgrade handshake at ``ws(s)://host:port/path`` with the server's request headers; with
    ``ws_send`` (or a keyword or assertions) the first message is judged as the ``body``."""
    url = server.url
    judged = bool(server.ws_send or server.keyword or server.assertions)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(server.timeout):
            if net.is_literal(server.host):  # aiohttp connects to a literal without its resolver
                await aionet.resolve(server.host, server.effective_port or 0)
            async with client.session().ws_connect(
                url,
                headers=dict(server.request_headers or {}),
                ssl=client.tls_context(server.verify_tls),
                autoping=True,
                max_msg_size=settings.MONITOR_MAX_BODY_BYTES,
            ) as ws:
                handshake_ms = (time.perf_counter() - started) * 1000
                headers = dict(ws._response.headers) if ws._response is not None else {}
                if not judged:
                    return ProbeOutcome(PingStatus.SUCCESS, round(handshake_ms, 2), 101)
                if server.ws_send:
                    await ws.send_str(server.ws_send)
                message = await ws.receive()
                elapsed = (time.perf_counter() - started) * 1000
    except TimeoutError:
        return _timeout(server, "WebSocket answer" if judged else "WebSocket handshake")
    except net.PrivateAddressError as exc:
        return _error(str(exc))
    except aiohttp.WSServerHandshakeError as exc:
        return ProbeOutcome(
            PingStatus.FAILURE, status_code=exc.status, error_message=f"WebSocket upgrade refused: HTTP {exc.status}"
        )
    except aiohttp.ClientSSLError as exc:
        return _error(f"TLS error: {net.reason(exc)}")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return _error(f"connection failed: {net.reason(exc)}")
    if message.type == aiohttp.WSMsgType.TEXT:
        body = message.data
    elif message.type == aiohttp.WSMsgType.BINARY:
        body = message.data.decode(errors="replace")
    else:
        return ProbeOutcome(PingStatus.FAILURE, round(elapsed, 2), 101, "the WebSocket closed before any message")
    failure = http_check.judge_content(server, Response(101, elapsed, headers, body))
    if failure is not None:
        return ProbeOutcome(PingStatus.FAILURE, round(elapsed, 2), 101, failure)
    return ProbeOutcome(PingStatus.SUCCESS, round(elapsed, 2), 101)


# --- tcp with send/expect


async def probe_tcp_exchange(server: Server, client: aionet.Client) -> ProbeOutcome:
    """Send ``tcp_send`` and expect ``tcp_expect`` within the first 4 KiB answered."""
    port = server.effective_port
    assert port is not None, "a tcp server always has a port (validated on save)"
    expect = unescape_tcp(server.tcp_expect)
    try:
        elapsed, seen = await client.tcp_exchange(
            server.host,
            port,
            send=unescape_tcp(server.tcp_send),
            expect=expect,
            timeout=server.timeout,
            limit=TCP_EXPECT_LIMIT,
        )
    except TimeoutError:
        return _timeout(server, "expected answer" if expect else "connection")
    except net.PrivateAddressError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"connection failed: {net.reason(exc)}")
    if expect and expect not in seen:
        got = seen[:80].decode(errors="replace")
        return ProbeOutcome(
            PingStatus.FAILURE,
            round(elapsed, 2),
            error_message=f"{server.tcp_expect!r} not in the answer (got {got!r})",
        )
    return ProbeOutcome(PingStatus.SUCCESS, round(elapsed, 2))
