"""ASGI middleware for WebSocket connections (the Origin rule) and the request helpers the
consumer authenticates with (``monitoring.consumers``: it accepts the handshake first and then
authenticates through ``authentication.credentials``, so a connect storm is never held at the
handshake by database reads).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.cookie import parse_cookie

from authentication.credentials import LiveCredentials, authenticate

Scope = dict[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of an ASGI request header, decoded as latin-1 (as HTTP says)."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def query_param(scope: Scope, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get(name)
    return values[0] if values else None


async def authenticate_scope(scope: Scope) -> LiveCredentials:
    """Authenticate a WebSocket connection from its Bearer header, ``X-Api-Key``, ``?token=`` or session cookie."""
    session_key = parse_cookie(header(scope, b"cookie") or "").get(settings.SESSION_COOKIE_NAME)
    return await authenticate(
        header(scope, b"authorization"), query_param(scope, "token"), session_key, header(scope, b"x-api-key")
    )


class WebSocketOriginValidator(OriginValidator):
    """channels' ``AllowedHostsOriginValidator``, except that a missing Origin is allowed.

    Browsers always send Origin on a WebSocket handshake, so a connection with a foreign
    Origin is cross-site WebSocket hijacking and is refused. Programs send none; they are
    judged by their token alone (SPEC §5), whereas channels' validator refuses them.
    ALLOWED_HOSTS is read per connection so tests and ``override_settings`` see changes.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or self.validate_origin(parsed_origin)

    def validate_origin(self, parsed_origin: Any) -> bool:
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = ["localhost", "127.0.0.1", "[::1]"]  # what Django itself allows then
        return any(pattern == "*" or self.match_allowed_origin(parsed_origin, pattern) for pattern in allowed)
