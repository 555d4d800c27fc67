"""The one place PulseGuard makes outbound network calls from (probes and notifiers).

Timeouts, the redirect cap, the User-Agent, timing and the private-address guard live
here once, as Healthchecks keeps them in ``hc/lib/curl.py``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
from django.conf import settings

# verify_tls=False is an operator's explicit per-server choice; warning on every check of
# such a server would only flood the log.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


class PrivateAddressError(Exception):
    """The target resolves to an address that MONITOR_ALLOW_PRIVATE_TARGETS forbids."""


class TooManyRedirects(Exception):
    """A request was redirected more often than its cap allows."""


# IPv6 prefixes whose low 32 bits are an IPv4 address the packet ends up at: NAT64's
# well-known and local-use prefixes (RFC 6052, RFC 8215) translate to it.
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# ::a.b.c.d, the deprecated IPv4-compatible form (RFC 4291 §2.5.5.1); :: and ::1 are judged as IPv6.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# ::ffff:0:a.b.c.d, the IPv4-translated form of stateless translation (SIIT, RFC 2765 / 6145).
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, NAT64, 6to4, compatible), else None.

    Python's ``is_global`` judges these by their IPv6 prefix and calls ``64:ff9b::7f00:1``,
    ``::ffff:0:7f00:1`` or ``2002:7f00:1::1`` global, though they reach 127.0.0.1 through a
    translator or relay.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if (
        ip in IPV4_TRANSLATED
        or any(ip in prefix for prefix in NAT64_PREFIXES)
        or (ip in IPV4_COMPATIBLE and int(ip) > 1)
    ):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, reserved or multicast: not a public address.

    An IPv6 address that embeds an IPv4 address is judged by that IPv4 address (and by its
    own prefix too, so a mapped form of a public address in a reserved range stays refused).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and is_private(inner):
            return True
        if inner is not None and (ip.ipv4_mapped is not None or ip in IPV4_TRANSLATED):
            return False  # ::ffff:8.8.8.8 is 8.8.8.8, though Python calls ::ffff:0:0/96 reserved
    return not ip.is_global or ip.is_multicast


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """Resolve ``host`` to (family, address) pairs, refusing private ones unless allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"could not resolve {host!r}: {exc.strerror}") from exc
    addresses = [(family, str(sockaddr[0])) for family, _, _, _, sockaddr in infos]
    vet(host, addresses)
    return addresses


def vet(host: str, addresses: list[tuple[int, str]]) -> None:
    """Raise PrivateAddressError if any of ``host``'s addresses is private and that is not allowed.

    The one rule for every way out: this module's resolver and the probes' (``aionet``).
    The error names ``host`` but never the address a name resolved to: a user who may add a
    check must not learn what an internal name resolves to from its error.
    """
    if settings.MONITOR_ALLOW_PRIVATE_TARGETS:
        return
    for _, address in addresses:
        if is_private(ipaddress.ip_address(address.split("%", 1)[0])):
            what = "is" if is_literal(host) else "resolves to"
            raise PrivateAddressError(
                f"refused: {host} {what} a private or reserved address; "
                "set MONITOR_ALLOW_PRIVATE_TARGETS=true to allow it"
            )


def is_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (bracketed or with a zone or not), not a name."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def url_host_port(url: str) -> tuple[str, int]:
    """The host (no brackets, lower case) and port (the scheme's default) of an http(s) URL."""
    parsed = requests.utils.urlparse(url)
    return (parsed.hostname or "").lower(), parsed.port or (443 if parsed.scheme == "https" else 80)


def guard_url(url: str) -> list[tuple[int, str]]:
    """Resolve ``url``'s host through the guard: its vetted (family, address) pairs.

    Raises PrivateAddressError if the host is private and that is not allowed.
    """
    host, port = url_host_port(url)
    return resolve(host, port) if host else []


def pin_key(host: str, port: int) -> tuple[str, int]:
    return host.strip("[]").rstrip(".").lower(), port


class PinnedConnectionMixin:
    """A urllib3 connection that connects only to the addresses the guard approved.

    DNS rebinding: the guard resolves a name and judges the answer; if the HTTP client then
    resolved the name again, a hostile DNS server could answer a public address first and
    127.0.0.1 or 169.254.169.254 second. This connection never resolves the name: it
    connects to the pinned addresses (in order) and keeps the name as
    ``host``, so the Host header, SNI and certificate hostname check still use the name.
    A host nobody pinned is refused rather than resolved.
    """

    pins: dict[tuple[str, int], list[tuple[int, str]]]
    _dns_host: str
    port: int

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        addresses = self.pins.get(pin_key(name, self.port))
        if not addresses:
            raise urllib3.exceptions.NewConnectionError(self, f"{name} was not vetted by the address guard")
        last: Exception | None = None
        try:
            for _, address in addresses:
                self._dns_host = address  # what urllib3's connect dials; restored before Host/SNI use it
                try:
                    sock = super()._new_conn()  # type: ignore[misc]
                    opened = getattr(_local, "opened", None)
                    if opened is not None:
                        opened.append(sock)  # http_request's deadline may have to cut it
                    return sock
                except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                    last = exc
        finally:
            self._dns_host = name
        assert last is not None
        raise last


class PinnedAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose connections reach only ``pin()``-ed addresses (see PinnedConnectionMixin).

    ``http_request`` pins each URL's vetted addresses right before sending to it. A kept-alive
    connection was opened to an address vetted when it was opened.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.pins: dict[tuple[str, int], list[tuple[int, str]]] = {}
        super().__init__(**kwargs)

    def pin(self, host: str, port: int, addresses: list[tuple[int, str]]) -> None:
        self.pins[pin_key(host, port)] = addresses

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attrs = {"pins": self.pins}
        http = type("PinnedHTTPConnection", (PinnedConnectionMixin, urllib3.connection.HTTPConnection), attrs)
        https = type("PinnedHTTPSConnection", (PinnedConnectionMixin, urllib3.connection.HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PinnedHTTPPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("PinnedHTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


_local = threading.local()


def session() -> requests.Session:
    """A requests session per thread: connections are reused, never shared across threads.

    Both schemes go through one PinnedAdapter (``session().adapters["https://"]``).
    """
    sess = getattr(_local, "session", None)
    if sess is None:
        sess = requests.Session()
        sess.headers["User-Agent"] = settings.MONITOR_USER_AGENT
        # Only the environment's proxies would reach outside loopback in tests; ignore them.
        sess.trust_env = False
        adapter = PinnedAdapter()
        sess.mount("http://", adapter)
        sess.mount("https://", adapter)
        _local.session = sess
    return sess


def vetted(sess: requests.Session, url: str) -> None:
    """Run ``url`` through the guard and pin what it approved on the session's adapter."""
    addresses = guard_url(url)
    adapter = sess.get_adapter(url)
    if isinstance(adapter, PinnedAdapter):
        adapter.pin(*url_host_port(url), addresses)


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    body: str
    elapsed_ms: float
    final_url: str
    # The final answer's headers (a case-insensitive mapping), for header: assertions.
    headers: Mapping[str, str] = field(default_factory=dict)


# The whole of an ``http_request`` may take this many times its per-operation timeout.
DEADLINE_FACTOR = 2


def http_request(
    method: str,
    url: str,
    *,
    timeout: float,
    verify: bool = True,
    json: object | None = None,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> HttpResponse:
    """One HTTP request with the guard, a timeout and a capped body read; a 3xx is the answer.

    ``timeout`` bounds each connect and read, and ``DEADLINE_FACTOR`` × ``timeout`` the whole call.

    Raises ``requests.RequestException`` (including ``Timeout``) or ``PrivateAddressError``.
    The connection goes to an address the guard approved (``PinnedAdapter``), never to a second
    resolution of the name. Its callers (the notifiers) follow no redirect: a webhook that moved
    is told to use its new URL. The probes follow redirects by ``next_hop`` (``aionet``).
    """
    sess = session()
    vetted(sess, url)
    # ``timeout`` bounds each connect and read; a receiver that drips a byte now and then would
    # pass every one of them and hold the caller for ever. The whole exchange gets a deadline
    # too: when it passes, the request's sockets are shut and the call fails as a Timeout.
    deadline = DEADLINE_FACTOR * timeout
    opened: list[socket.socket] = []
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    _local.opened = opened
    timer = threading.Timer(deadline, cut)
    timer.daemon = True
    timer.start()
    started = time.perf_counter()
    try:
        response = sess.request(
            method,
            url,
            timeout=timeout,
            verify=verify,
            allow_redirects=False,
            json=json,
            data=data,
            # A fresh connection per call (no keep-alive): the deadline can only cut sockets
            # this call opened.
            headers={"Connection": "close", **(headers or {})},
            auth=auth,
            stream=True,
        )
        try:
            raw = response.raw.read(settings.MONITOR_MAX_BODY_BYTES, decode_content=True) or b""
        finally:
            response.close()
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if expired.is_set():
            raise requests.Timeout(f"no complete answer within {deadline:g}s") from exc
        raise
    finally:
        timer.cancel()
        _local.opened = None
        # And none is kept: a body read to its end hands the connection back to the pool before
        # the receiver has closed its side, and the next call reused it, to be cut mid-request
        # ("Remote end closed connection without response"). Closing the pools ends it.
        sess.get_adapter(url).close()
    if expired.is_set():
        raise requests.Timeout(f"no complete answer within {deadline:g}s")
    elapsed_ms = (time.perf_counter() - started) * 1000
    encoding = response.encoding or "utf-8"
    return HttpResponse(
        status_code=response.status_code,
        body=raw.decode(encoding, errors="replace"),
        elapsed_ms=elapsed_ms,
        final_url=response.url,
        headers=response.headers,
    )


# --- Redirects: the one rule of where a redirected request goes next.

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Hop:
    """The request a redirect asks for."""

    url: str
    method: str
    keeps_body: bool  # 307 and 308 repeat the request; 301, 302 and 303 become a GET without a body
    sends_credentials: bool  # only to the origin the credentials were set for


def next_hop(
    status: int, location: str | None, *, current: str, first: str, method: str, hops: int, cap: int
) -> Hop | None:
    """Where a response with ``status`` and ``location`` sends the request, or None when it is the answer.

    ``current`` is the URL that answered, ``first`` the URL the request was made for (its
    credentials belong to that origin), ``hops`` the redirects followed so far. ``cap`` 0 makes
    every 3xx the answer; past ``cap`` hops raises TooManyRedirects. The caller sends the hop
    through the guard like any request: a redirect may point anywhere.
    """
    if status not in REDIRECT_CODES or not location or cap == 0:
        return None
    if hops >= cap:
        raise TooManyRedirects(f"more than {cap} redirects")
    url = urljoin(current, location)
    repeats = status in (307, 308)
    return Hop(
        url=url,
        method=method if repeats or method == "HEAD" else "GET",
        keeps_body=repeats,
        sends_credentials=same_origin(first, url),
    )


def same_origin(first: str, second: str) -> bool:
    """Scheme, host and port (the scheme's default when not given) are the same."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme.lower(), *url_host_port(first)) == (b.scheme.lower(), *url_host_port(second))


def reason(exc: BaseException) -> str:
    """The innermost useful message of an exception chain ("Connection refused"), at most 400 characters.

    The one wording of a network failure for checks and notifications alike. An errno is given
    by its name: asyncio's "Connect call failed ('10.0.0.5', 80)" would name the address."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        text = f"certificate verify failed: {exc.verify_message}"
    elif isinstance(exc, (ssl.SSLError, socket.gaierror)) and exc.strerror:
        text = exc.strerror  # their numbers are OpenSSL's and the resolver's, not errno values
    elif isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or exc.__class__.__name__
    return text[:400]


@dataclass(frozen=True)
class TlsPeerCertificate:
    """What a TLS handshake showed of the peer: its leaf certificate and whether it verified."""

    der: bytes  # the leaf certificate, DER-encoded
    verified: bool  # chain and hostname verified against the trust store
    verify_error: str = ""  # why it did not verify, in OpenSSL's words ("self-signed certificate")


def tls_peer_certificate(
    host: str, port: int, *, timeout: float, cafile: str | None = None, smtp_starttls: bool = False
) -> TlsPeerCertificate:
    """Read the certificate ``host:port`` presents, and say whether it verifies.

    1. Handshake with chain and hostname verification (SNI = ``host``) against ``cafile``
       or, without one, the system trust store. Success: verified.
    2. If only verification failed, handshake again without verification, just to read the
       certificate: an operator wants the expiry date of a broken certificate most of all.
    Each handshake resolves through the guard and gets ``timeout`` seconds. Raises OSError
    (including TimeoutError and ssl.SSLError) or PrivateAddressError when no certificate
    could be read at all, and ValueError for an unusable ``cafile``. With ``smtp_starttls`` the
    handshake follows SMTP's banner, EHLO and STARTTLS (an smtp server's certificate, SPEC §19).
    """
    try:
        verifying = ssl.create_default_context(cafile=cafile or None)
    except OSError as exc:  # a missing or unreadable bundle is the operator's to fix: say which
        raise ValueError(f"CA bundle {cafile!r} could not be loaded: {exc.strerror or exc}") from exc
    try:
        return TlsPeerCertificate(_tls_handshake(host, port, verifying, timeout, smtp_starttls), verified=True)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
    reading = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reading.check_hostname = False
    reading.verify_mode = ssl.CERT_NONE
    return TlsPeerCertificate(
        _tls_handshake(host, port, reading, timeout, smtp_starttls), verified=False, verify_error=reason
    )


def _smtp_reply(sock: socket.socket) -> tuple[int, bytes]:
    """Read one SMTP reply (all its lines); its code and text. Byte by byte after the last line:
    nothing of the TLS handshake that follows a STARTTLS reply is read here."""
    text = b""
    while True:
        line = b""
        while not line.endswith(b"\n"):
            byte = sock.recv(1)
            if not byte:
                raise ConnectionError("the SMTP server closed the connection")
            line += byte
            if len(line) > 2048:
                raise ConnectionError("an SMTP reply line is too long")
        text += line
        if len(line) < 4 or line[3:4] != b"-":
            return (int(line[:3]) if line[:3].isdigit() else 0), text


def _smtp_starttls(sock: socket.socket) -> None:
    """Banner, EHLO, STARTTLS on a connected socket; raises ssl.SSLError when refused."""
    code, _ = _smtp_reply(sock)
    if code != 220:
        raise ssl.SSLError(f"SMTP banner {code}, expected 220")
    sock.sendall(b"EHLO pulseguard.localdomain\r\n")
    code, text = _smtp_reply(sock)
    if code != 250 or b"STARTTLS" not in text.upper():
        raise ssl.SSLError("the server does not offer STARTTLS")
    sock.sendall(b"STARTTLS\r\n")
    code, _ = _smtp_reply(sock)
    if code != 220:
        raise ssl.SSLError(f"STARTTLS answered {code}")


def _tls_handshake(host: str, port: int, context: ssl.SSLContext, timeout: float, smtp_starttls: bool = False) -> bytes:
    """Connect to the guarded addresses of ``host`` in turn, then handshake once; the peer's DER."""
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    for family, address in resolve(host, port):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        raw = socket.socket(family, socket.SOCK_STREAM)
        try:
            raw.settimeout(remaining)
            # The resolved address, not the name: what the guard approved is what we reach.
            raw.connect((address, port))
        except OSError as exc:
            raw.close()
            last_error = exc
            continue
        # A TLS failure is the server's answer, not an unreachable address: no next address.
        with raw:  # closes it if wrapping fails before the TLS socket takes it over
            raw.settimeout(max(deadline - time.monotonic(), 0.001))
            if smtp_starttls:
                _smtp_starttls(raw)
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        return der
    if last_error is None:
        raise TimeoutError(f"timed out after {timeout:g}s")
    raise last_error
