"""ASGI middleware for WebSocket connections: token authentication and the Origin rule.

Stacked in ``core.asgi`` as ``WebSocketOriginValidator(AuthMiddlewareStack(JWTAuthMiddleware(…)))``:
channels' stack puts the session user in ``scope["user"]``; this middleware replaces it with
the token's user when the client presents a token. Like channels' own middleware it keeps
no state on the instance (one instance serves every connection).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings

from authentication.credentials import authenticate

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


class JWTAuthMiddleware(BaseMiddleware):
    """Put the authenticated user in ``scope["user"]`` and the token expiry in ``scope["auth_expires_at"]``.

    The consumer decides what to do with an anonymous user (SPEC §5: accept, then close 4001),
    and reads ``scope["auth_error"]`` for the reason.
    """

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        scope = dict(scope)
        session_user = scope.get("user")

        async def from_session() -> Any:
            return session_user

        creds = await authenticate(header(scope, b"authorization"), query_param(scope, "token"), from_session)
        scope["user"] = creds.user
        scope["auth_expires_at"] = creds.expires_at
        scope["auth_error"] = creds.error
        return await super().__call__(scope, receive, send)


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
