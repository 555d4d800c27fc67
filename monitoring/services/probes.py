"""Probes: look at a target once and say what was seen. No database writes here."""

from __future__ import annotations

import requests

from monitoring.choices import PingStatus, Protocol
from monitoring.models import Server
from monitoring.services import net
from monitoring.services.transitions import ProbeOutcome
from monitoring.validators import parse_status_codes


def status_code_expected(code: int, spec: str) -> bool:
    return any(lo <= code <= hi for lo, hi in parse_status_codes(spec))


def probe_http(server: Server) -> ProbeOutcome:
    try:
        response = net.http_request(server.method, server.url, timeout=server.timeout, verify=server.verify_tls)
    except requests.Timeout:
        return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no response within {server.timeout:g}s")
    except requests.exceptions.SSLError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"TLS error: {_reason(exc)}")
    except requests.ConnectionError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"connection failed: {_reason(exc)}")
    except (requests.RequestException, net.PrivateAddressError, OSError) as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=_reason(exc))
    elapsed = round(response.elapsed_ms, 2)
    if not status_code_expected(response.status_code, server.expected_status_codes):
        return ProbeOutcome(
            PingStatus.FAILURE,
            elapsed,
            response.status_code,
            f"HTTP {response.status_code}, expected {server.expected_status_codes}",
        )
    if server.keyword and server.keyword not in response.body:
        return ProbeOutcome(PingStatus.FAILURE, elapsed, response.status_code, f"keyword {server.keyword!r} not found")
    return ProbeOutcome(PingStatus.SUCCESS, elapsed, response.status_code)


def probe_tcp(server: Server) -> ProbeOutcome:
    port = server.effective_port
    assert port is not None, "a tcp server always has a port (validated on save)"
    try:
        elapsed = net.tcp_connect(server.host, port, timeout=server.timeout)
    except TimeoutError:
        return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no connection within {server.timeout:g}s")
    except net.PrivateAddressError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=str(exc))
    except OSError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"connection failed: {_reason(exc)}")
    return ProbeOutcome(PingStatus.SUCCESS, round(elapsed, 2))


PROBES = {Protocol.HTTP: probe_http, Protocol.HTTPS: probe_http, Protocol.TCP: probe_tcp}


def probe(server: Server) -> ProbeOutcome:
    """Run the probe for the server's protocol; never raises for network trouble."""
    return PROBES[Protocol(server.protocol)](server)


def _reason(exc: BaseException) -> str:
    """The innermost useful message of a requests/urllib3 exception chain."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        inner = exc.__cause__ or exc.__context__
        assert inner is not None
        exc = inner
    text = str(exc.args[0]) if exc.args else exc.__class__.__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text[:400]
