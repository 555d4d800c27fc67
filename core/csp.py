"""Content-Security-Policy on every HTML answer: scripts only from this origin (SPEC §23).

A stored cross-site script (a server name, a push message, a status-page title rendered into
a page by mistake) then cannot run: the browser executes no inline script and no script from
another host. The project's pages keep their scripts in ``static/`` for this reason, the API
docs load Swagger UI's start-up script from ``/api/docs/?script`` (drf-spectacular's split
view) and Redoc from the sidecar package. Styles may stay inline (``style=`` attributes, and
the styles Swagger UI and Redoc inject); that is not script.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"


def policy(request: HttpRequest) -> str:
    """The policy for one page; the live feed's WebSocket is named by scheme and host because
    older browsers do not count ``ws:`` to the same host as ``'self'``."""
    socket = f"{'wss' if request.is_secure() else 'ws'}://{request.get_host()}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            f"connect-src 'self' {socket}",
            "worker-src 'self' blob:",  # Redoc's search runs in a worker made from a blob
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Add the policy to every ``text/html`` response that does not set its own."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if HEADER not in response and response.get("Content-Type", "").startswith("text/html"):
            response[HEADER] = policy(request)
        return response
