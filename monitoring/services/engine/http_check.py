"""What an HTTP check sends and how its answer is judged (SPEC §6, §10), independent of the
HTTP client: ``build_request(server)`` gives the request options, ``judge(server, response)``
the verdict on a plain ``Response``. ``probes.probe_http`` sends the request with
``aionet.Client`` and judges what came back; another client needs only to send
``RequestOptions`` and hand back a ``Response``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring import assertions
from monitoring.assertions import Response
from monitoring.models import Server
from monitoring.validators import parse_status_codes


@dataclass(frozen=True)
class RequestOptions:
    """Everything needed to send one check request, whatever the client."""

    method: str
    url: str
    timeout: float
    verify_tls: bool
    max_redirects: int  # 0: the first answer is judged, even a 3xx
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # sent with ``method``; None sends no body
    basic_auth: tuple[str, str] | None = None


def build_request(server: Server) -> RequestOptions:
    """The request a check of ``server`` sends: its method and URL, headers, body and auth."""
    return RequestOptions(
        method=server.method,
        url=server.url,
        timeout=server.timeout,
        verify_tls=server.verify_tls,
        max_redirects=server.max_redirects,
        headers=dict(server.request_headers or {}),
        body=server.request_body.encode() if server.request_body else None,
        basic_auth=(server.basic_auth_username, server.basic_auth_password) if server.basic_auth_username else None,
    )


def status_code_expected(code: int, spec: str) -> bool:
    return any(lo <= code <= hi for lo, hi in parse_status_codes(spec))


def judge(server: Server, response: Response) -> str | None:
    """None when the answer is what ``server`` expects, else the failure message.

    In order: the status code against ``expected_status_codes``, the keyword (present, or
    absent with ``keyword_absent``), then every assertion.
    """
    if not status_code_expected(response.status_code, server.expected_status_codes):
        return f"HTTP {response.status_code}, expected {server.expected_status_codes}"
    return judge_content(server, response)


def judge_content(server: Server, response: Response) -> str | None:
    """The keyword, then the assertions, on an answer whose status needs no judging (an HTTP
    response already judged by its code, a WebSocket's first message, SPEC §19)."""
    if server.keyword:
        found = server.keyword in response.body
        if server.keyword_absent and found:
            return f"keyword {server.keyword!r} found, expected it absent"
        if not server.keyword_absent and not found:
            return f"keyword {server.keyword!r} not found"
    if server.assertions:
        try:
            parsed = assertions.parse(server.assertions)
        except assertions.AssertionSpecError as exc:  # saved before validation existed, or by raw SQL
            return f"invalid assertions: {exc}"
        return assertions.evaluate(parsed, response)
    return None
