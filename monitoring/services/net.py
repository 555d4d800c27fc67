"""The one place PulseGuard makes outbound network calls from (probes and notifiers).

Timeouts, the redirect cap, the User-Agent, timing and the private-address guard live
here once, as Healthchecks keeps them in ``hc/lib/curl.py``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
import urllib3
from django.conf import settings

# verify_tls=False is an operator's explicit per-server choice; warning on every check of
# such a server would only flood the log.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


class PrivateAddressError(Exception):
    """The target resolves to an address that MONITOR_ALLOW_PRIVATE_TARGETS forbids."""


def is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, reserved or multicast: not a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """Resolve ``host`` to (family, address) pairs, refusing private ones unless allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"could not resolve {host!r}: {exc.strerror}") from exc
    addresses = [(family, str(sockaddr[0])) for family, _, _, _, sockaddr in infos]
    if not settings.MONITOR_ALLOW_PRIVATE_TARGETS:
        for _, address in addresses:
            if is_private(ipaddress.ip_address(address.split("%", 1)[0])):
                raise PrivateAddressError(
                    f"{host} resolves to {address}, a private or reserved address; "
                    "set MONITOR_ALLOW_PRIVATE_TARGETS=true to allow it"
                )
    return addresses


def guard_url(url: str) -> None:
    """Raise PrivateAddressError if ``url``'s host is private and that is not allowed."""
    parsed = requests.utils.urlparse(url)
    if parsed.hostname:
        resolve(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))


_local = threading.local()


def session() -> requests.Session:
    """A requests session per thread: connections are reused, never shared across threads."""
    sess = getattr(_local, "session", None)
    if sess is None:
        sess = requests.Session()
        sess.headers["User-Agent"] = settings.MONITOR_USER_AGENT
        sess.max_redirects = settings.MONITOR_MAX_REDIRECTS
        # Only the environment's proxies would reach outside loopback in tests; ignore them.
        sess.trust_env = False
        _local.session = sess
    return sess


@dataclass(frozen=True)
class HttpResponse:
    status_code: int
    body: str
    elapsed_ms: float
    final_url: str
    # The final answer's headers (a case-insensitive mapping), for header: assertions.
    headers: Mapping[str, str] = field(default_factory=dict)


def http_request(
    method: str,
    url: str,
    *,
    timeout: float,
    verify: bool = True,
    allow_redirects: bool = True,
    json: object | None = None,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    max_redirects: int | None = None,
) -> HttpResponse:
    """One HTTP request with the guard, a timeout, the redirect cap and a capped body read.

    Raises ``requests.RequestException`` (including ``Timeout``) or ``PrivateAddressError``.
    Redirect targets are checked by the guard too (resolved again, at the time of the hop).
    ``max_redirects`` (default MONITOR_MAX_REDIRECTS) caps the hops; 0 answers the first 3xx.
    A hop keeps ``headers``; ``auth`` only to the same origin; the body only on 307/308.
    """
    cap = settings.MONITOR_MAX_REDIRECTS if max_redirects is None else max_redirects
    if cap == 0:
        allow_redirects = False
    guard_url(url)
    started = time.perf_counter()
    sess = session()
    response = sess.request(
        method,
        url,
        timeout=timeout,
        verify=verify,
        allow_redirects=False,
        json=json,
        data=data,
        headers=headers,
        auth=auth,
        stream=True,
    )
    redirects = 0
    while allow_redirects and response.is_redirect:
        redirects += 1
        if redirects > cap:
            response.close()
            raise requests.TooManyRedirects(f"more than {cap} redirects")
        target = requests.compat.urljoin(response.url, response.headers["location"])
        response.close()
        guard_url(target)
        keeps_method = response.status_code in (307, 308)
        follow = method if keeps_method or method == "HEAD" else "GET"
        response = sess.request(
            follow,
            target,
            timeout=timeout,
            verify=verify,
            allow_redirects=False,
            headers=headers,
            auth=auth if _same_origin(url, target) else None,
            json=json if keeps_method else None,
            data=data if keeps_method else None,
            stream=True,
        )
    try:
        raw = response.raw.read(settings.MONITOR_MAX_BODY_BYTES, decode_content=True) or b""
    finally:
        response.close()
    elapsed_ms = (time.perf_counter() - started) * 1000
    encoding = response.encoding or "utf-8"
    return HttpResponse(
        status_code=response.status_code,
        body=raw.decode(encoding, errors="replace"),
        elapsed_ms=elapsed_ms,
        final_url=response.url,
        headers=response.headers,
    )


def _same_origin(first: str, second: str) -> bool:
    a, b = requests.utils.urlparse(first), requests.utils.urlparse(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def tcp_connect(host: str, port: int, *, timeout: float) -> float:
    """Open and close a TCP connection; returns the connect time in ms. Raises OSError."""
    addresses = resolve(host, port)
    started = time.perf_counter()
    last_error: OSError | None = None
    deadline = started + timeout
    for family, address in addresses:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            break
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(remaining)
                sock.connect((address, port))
            return (time.perf_counter() - started) * 1000
        except OSError as exc:
            last_error = exc
    if last_error is None:
        raise TimeoutError(f"timed out after {timeout:g}s")
    raise last_error


@dataclass(frozen=True)
class TlsPeerCertificate:
    """What a TLS handshake showed of the peer: its leaf certificate and whether it verified."""

    der: bytes  # the leaf certificate, DER-encoded
    verified: bool  # chain and hostname verified against the trust store
    verify_error: str = ""  # why it did not verify, in OpenSSL's words ("self-signed certificate")


def tls_peer_certificate(host: str, port: int, *, timeout: float, cafile: str | None = None) -> TlsPeerCertificate:
    """Read the certificate ``host:port`` presents, and say whether it verifies.

    1. Handshake with chain and hostname verification (SNI = ``host``) against ``cafile``
       or, without one, the system trust store. Success: verified.
    2. If only verification failed, handshake again without verification, just to read the
       certificate: an operator wants the expiry date of a broken certificate most of all.
    Each handshake resolves through the guard and gets ``timeout`` seconds. Raises OSError
    (including TimeoutError and ssl.SSLError) or PrivateAddressError when no certificate
    could be read at all, and ValueError for an unusable ``cafile``.
    """
    try:
        verifying = ssl.create_default_context(cafile=cafile or None)
    except OSError as exc:  # a missing or unreadable bundle is the operator's to fix: say which
        raise ValueError(f"CA bundle {cafile!r} could not be loaded: {exc.strerror or exc}") from exc
    try:
        return TlsPeerCertificate(_tls_handshake(host, port, verifying, timeout), verified=True)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
    reading = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reading.check_hostname = False
    reading.verify_mode = ssl.CERT_NONE
    return TlsPeerCertificate(_tls_handshake(host, port, reading, timeout), verified=False, verify_error=reason)


def _tls_handshake(host: str, port: int, context: ssl.SSLContext, timeout: float) -> bytes:
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
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
        if not der:
            raise ssl.SSLError("the server sent no certificate")
        return der
    if last_error is None:
        raise TimeoutError(f"timed out after {timeout:g}s")
    raise last_error
