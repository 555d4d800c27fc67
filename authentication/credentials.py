"""Who is on the other end of a live feed: one helper for the WebSocket middleware and the SSE view.

A client proves who it is with a SimpleJWT access token in ``Authorization: Bearer …``
or in ``?token=`` (browsers' EventSource cannot set headers), or with the Django session
cookie (the dashboard). Tokens are verified exactly as the REST API verifies them, through
SimpleJWT's ``JWTAuthentication.get_validated_token()`` and ``get_user()``; a ``?token=`` is
never read as a user id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES, JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID = "The token is invalid or expired."


@dataclass(frozen=True)
class LiveCredentials:
    """The outcome of authenticating a live-feed connection.

    ``expires_at`` is the token's ``exp`` (epoch seconds) so a long-lived connection can end
    when its token does; it is None for a session, which Django expires on its own terms.
    ``error`` says why the connection is anonymous, and is empty when it is not.
    """

    user: Any
    expires_at: float | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None.

    Another scheme (``Basic …``) is not ours to judge and reads as "no token"; a Bearer
    header without exactly one token is a malformed credential and raises ``InvalidToken``.
    """
    parts = (authorization or "").split()
    if not parts or parts[0] not in AUTH_HEADER_TYPES:
        return None
    if len(parts) != 2:
        raise InvalidToken("Authorization header must contain two space-delimited values")
    return parts[1]


def user_for_token(raw: str) -> LiveCredentials:
    """Verify a raw access token and load its user (blocking: it reads the database)."""
    auth = JWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        user = auth.get_user(token)
    except (InvalidToken, AuthenticationFailed, TokenError):
        return LiveCredentials(AnonymousUser(), error=INVALID)
    return LiveCredentials(user, expires_at=float(token["exp"]))


async def authenticate(
    authorization: str | None,
    query_token: str | None,
    session_user: Callable[[], Awaitable[Any]],
) -> LiveCredentials:
    """Authenticate a live-feed connection from its header, query token or session.

    1. A Bearer header wins, then ``?token=``. A presented token decides alone: an invalid
       or expired one is refused even when a session cookie is also sent, so a client learns
       its token went stale instead of silently riding on another identity.
    2. With no token, the Django session's user (``session_user()``) is used.
    3. Nothing usable: an anonymous result whose ``error`` says why.
    """
    try:
        raw = bearer_token(authorization) or (query_token or "").strip() or None
    except InvalidToken:
        return LiveCredentials(AnonymousUser(), error=INVALID)
    if raw is not None:
        return await database_sync_to_async(user_for_token)(raw)
    user = await session_user()
    if getattr(user, "is_authenticated", False) and getattr(user, "is_active", True):
        return LiveCredentials(user)
    return LiveCredentials(AnonymousUser(), error=NOT_PROVIDED)
