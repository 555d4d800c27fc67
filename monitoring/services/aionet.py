"""Outbound network calls on an asyncio loop: the probes' side of ``services.net``.

The same rules as ``net`` (timeouts, redirect cap, User-Agent, TLS verification against
CERT_CA_BUNDLE or the system store, the private-address guard), for aiohttp. The guard sits
in the resolver, so the address it vetted is the address the connection goes to: the name is
resolved once per connection and kept only for the Host header and SNI, and a DNS answer that
changes between "vetting" and "connecting" (DNS rebinding) cannot reach a private address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import socket
import ssl
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings
from yarl import URL

from monitoring.services import net


async def resolve(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[int, str]]:
    """Resolve ``host`` without blocking the loop and vet the answer; (family, address) pairs."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, str(literal))]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(f"could not resolve {host!r}: {exc.strerror}") from exc
        addresses = [(fam, str(sockaddr[0])) for fam, _, _, _, sockaddr in infos]
    net.vet(host, addresses)
    return addresses


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: vetted addresses only, numeric, so the connector connects to exactly them."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=fam, proto=0, flags=socket.AI_NUMERICHOST)
            for fam, address in await resolve(host, port, family)
        ]

    async def close(self) -> None:
        return None


def probe_user_agent(location: str | None = None) -> str:
    """What every HTTP(S) and WebSocket probe sends: the product and its location (SPEC §20)."""
    return f"PulseGuard/{settings.PULSEGUARD_VERSION} (+{location or settings.PROBE_LOCATION})"


class Client:
    """One per event loop (a scheduler process, a pass, an agent): a pooled aiohttp session and
    TLS contexts; its probes name ``location`` (default: the scheduler's own) as User-Agent."""

    def __init__(self, location: str | None = None) -> None:
        self.user_agent = probe_user_agent(location)
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(), limit=0, limit_per_host=0, ttl_dns_cache=10, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.user_agent},
                trust_env=False,  # only the environment's proxies would reach outside loopback
                cookie_jar=aiohttp.DummyCookieJar(),  # a check never carries another check's cookies
                auto_decompress=True,
            )
        return self._session

    def tls_context(self, verify: bool) -> ssl.SSLContext | bool:
        """Verification against CERT_CA_BUNDLE (or the system store) for every HTTPS check, or none."""
        if not verify:
            return False
        bundle = settings.CERT_CA_BUNDLE or ""
        context = self._contexts.get(bundle)
        if context is None:
            context = self._contexts[bundle] = ssl.create_default_context(cafile=bundle or None)
        return context

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def http_request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        verify: bool = True,
        max_redirects: int | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        basic_auth: tuple[str, str] | None = None,
    ) -> net.HttpResponse:
        """One request, following redirects by ``net.next_hop`` (each hop through the guard), within
        ``timeout`` in all; the body is read up to MONITOR_MAX_BODY_BYTES. Raises ``TimeoutError``,
        ``aiohttp.ClientError``, ``net.TooManyRedirects``, ``net.PrivateAddressError`` or ``OSError``."""
        cap = settings.MONITOR_MAX_REDIRECTS if max_redirects is None else max_redirects
        tls = self.tls_context(verify)
        started = time.perf_counter()
        target, credentials = url, basic_auth
        async with asyncio.timeout(timeout):
            for hops in itertools.count():
                host = URL(target).host or ""
                if net.is_literal(host):
                    # aiohttp connects to an IP literal without asking the resolver: vet it here.
                    await resolve(host, URL(target).port or 0)
                sent = dict(headers or {})
                if credentials is not None:
                    sent["Authorization"] = aiohttp.encode_basic_auth(*credentials)
                async with self.session().request(
                    method, target, allow_redirects=False, ssl=tls, headers=sent, data=data
                ) as response:
                    hop = net.next_hop(
                        response.status,
                        response.headers.get("Location"),
                        current=str(response.url),
                        first=url,
                        method=method,
                        hops=hops,
                        cap=cap,
                    )
                    if hop is None:
                        raw = await response.content.read(settings.MONITOR_MAX_BODY_BYTES)
                        return net.HttpResponse(
                            status_code=response.status,
                            body=raw.decode(response.charset or "utf-8", errors="replace"),
                            elapsed_ms=(time.perf_counter() - started) * 1000,
                            final_url=str(response.url),
                            headers=dict(response.headers),
                        )
                target, method = hop.url, hop.method
                data = data if hop.keeps_body else None
                credentials = basic_auth if hop.sends_credentials else None
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def tcp_connect(self, host: str, port: int, *, timeout: float) -> float:
        """Open and close a TCP connection to a vetted address; the connect time in ms."""
        started = time.perf_counter()
        async with asyncio.timeout(timeout):
            last_error: OSError | None = None
            for family, address in await resolve(host, port):
                try:
                    _, writer = await asyncio.open_connection(address, port, family=family)
                except OSError as exc:
                    last_error = exc
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return elapsed
            assert last_error is not None
            raise last_error

    async def tcp_exchange(
        self, host: str, port: int, *, send: bytes, expect: bytes, timeout: float, limit: int = 4096
    ) -> tuple[float, bytes]:
        """Connect to a vetted address, send ``send`` and read until ``expect`` appears, ``limit``
        bytes have come or the peer closes; the time in ms until then and what was read."""
        started = time.perf_counter()
        async with asyncio.timeout(timeout):
            reader, writer = await open_vetted(host, port)
            try:
                if send:
                    writer.write(send)
                    await writer.drain()
                seen = b""
                while len(seen) < limit and not (expect and expect in seen):
                    chunk = await reader.read(limit - len(seen))
                    if not chunk:
                        break
                    seen += chunk
                return (time.perf_counter() - started) * 1000, seen[:limit]
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def open_vetted(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP stream to the first of ``host``'s vetted addresses that accepts (``resolve``)."""
    last_error: OSError | None = None
    for family, address in await resolve(host, port):
        try:
            return await asyncio.open_connection(address, port, family=family)
        except OSError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


async def connect_vetted(host: str, port: int) -> socket.socket:
    """A connected non-blocking socket to the first of ``host``'s vetted addresses that accepts,
    for clients that take a socket (aiosmtplib): the guard judged the address it connects to."""
    loop = asyncio.get_running_loop()
    last_error: OSError | None = None
    for family, address in await resolve(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (address, port))
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    assert last_error is not None
    raise last_error
