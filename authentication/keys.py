"""Team API keys (SPEC §17): ``pgk_…`` made, shown once, stored as a digest, and what a request
made with one is.

A key is ``pgk_`` and 43 url-safe characters (32 random bytes). The database keeps its first
12 characters (``prefix``, to recognise it in lists and logs) and ``key_hash``, HMAC-SHA-256
of the whole key under SECRET_KEY: 32 random bytes need no slow hash, and the digest is found
by an index, so comparing is the database's equality on a value an attacker cannot choose.

A request with a key (``Authorization: Bearer pgk_…`` or ``X-Api-Key: pgk_…``) acts as its
team: ``request.user`` is a ``KeyPrincipal`` (``api_key`` set, no ``pk``). The key is looked up
on every request (no cache), so a revoked key is refused by every process at once; a read key
is refused every unsafe method here, at authentication, whatever view and permission follow.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication

from authentication.models import ApiKey

PREFIX = "pgk_"
#: ``pgk_`` + ``secrets.token_urlsafe(32)`` (43 characters).
KEY_LENGTH = len(PREFIX) + 43
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
SHOWN_PREFIX = 12
HEADER = "X-Api-Key"
#: ``last_used_at`` is written at most this often per key (a write on every request would be a hot row).
TOUCH_EVERY = timedelta(seconds=60)
UNKNOWN = "Unknown or revoked API key."
READ_ONLY = "This API key has the scope read: it may only read (GET, HEAD, OPTIONS)."
PEOPLE_ONLY = "An API key acts as its team, not as a person: sign in to do this."


def digest(raw: str) -> str:
    """HMAC-SHA-256 of the whole key under SECRET_KEY, in hex (``ApiKey.key_hash``)."""
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


def looks_like_key(raw: str | None) -> bool:
    return bool(raw) and raw.startswith(PREFIX)  # type: ignore[union-attr]


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create(team: Any, name: str, scope: str, created_by: Any) -> tuple[ApiKey, str]:
    """Make a key for ``team``; answer the row and the key itself, which is stored nowhere."""
    raw = new_key()
    key = ApiKey.objects.create(
        team=team,
        name=name,
        scope=scope,
        prefix=raw[:SHOWN_PREFIX],
        key_hash=digest(raw),
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return key, raw


def well_formed(raw: str) -> bool:
    """Whether ``raw`` is shaped like a key: ``pgk_`` and 43 url-safe characters."""
    return looks_like_key(raw) and len(raw) == KEY_LENGTH and URLSAFE.fullmatch(raw[len(PREFIX) :]) is not None


def find(raw: str) -> ApiKey | None:
    """The key ``raw`` is, or None (unknown, revoked, or not shaped like a key: no query then)."""
    if not well_formed(raw):
        return None
    return ApiKey.objects.select_related("team").filter(key_hash=digest(raw)).first()


def find_by_hashes(hashes: set[str]) -> dict[str, ApiKey]:
    """The keys of these digests (the live feeds' batch read); revoked ones are absent."""
    return {key.key_hash: key for key in ApiKey.objects.filter(key_hash__in=hashes)} if hashes else {}


def touch(keys: list[ApiKey]) -> None:
    """Note that ``keys`` were used: one UPDATE for those not noted in the last minute, none if all were.

    The WHERE makes it race-free between processes; the check before it makes most requests
    cost no query at all (the row read to authenticate says when it was last noted).
    """
    now = timezone.now()
    stale = [key.pk for key in keys if key.last_used_at is None or key.last_used_at < now - TOUCH_EVERY]
    if stale:
        ApiKey.objects.filter(pk__in=stale).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_EVERY)
        ).update(last_used_at=now)


class NotAPerson:
    """An authenticated caller that is no person (a team API key, a probe agent's token): no ``pk``,
    so nothing can be owned by it or looked up as a user; never staff."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True
    pk = None
    id = None
    username = ""

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class KeyPrincipal(NotAPerson):
    """``request.user`` for a request made with a team API key: authenticated, not a person.

    It has no ``pk``: nothing can be owned by it or looked up as a user. Code that asks what
    the caller may see or do reads ``api_key`` (``authentication.teams.roles``,
    ``monitoring.models.base.visible_team_ids``): a write key acts as a ``member`` of its team,
    a read key as a ``viewer``.
    """

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.username = f"key:{api_key.prefix}"

    def __repr__(self) -> str:
        return f"<KeyPrincipal {self.username} team={self.api_key.team_id} scope={self.api_key.scope}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyPrincipal) and other.api_key.pk == self.api_key.pk

    def __hash__(self) -> int:
        return hash(("key", self.api_key.pk))

    @property
    def team_id(self) -> int:
        return self.api_key.team_id

    @property
    def writes(self) -> bool:
        return self.api_key.scope == ApiKey.Scope.WRITE

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False


def presented_key(request: Any) -> str | None:
    """The key a request presents (``X-Api-Key``, or a Bearer token starting ``pgk_``), else None.

    A Bearer token of another shape is a JWT and is left to SimpleJWT.
    """
    given = request.META.get("HTTP_X_API_KEY")
    if given is not None:
        return given.strip()
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and looks_like_key(token):
        return token
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """DRF authentication by team API key; first in DEFAULT_AUTHENTICATION_CLASSES.

    1. No key presented: None, and the next authenticator (JWT, session) has its turn.
    2. A key no row has (never made, or revoked): 401 at once; it never falls back to a session.
    3. A read key with an unsafe method: 403, for every view alike (a view's own permission
       classes cannot forget it).
    4. Else the request acts as ``KeyPrincipal(key)``; ``last_used_at`` is noted (``touch``).
    """

    def authenticate(self, request: Any) -> tuple[KeyPrincipal, ApiKey] | None:
        raw = presented_key(request)
        if raw is None:
            return None
        key = find(raw)
        if key is None:
            raise exceptions.AuthenticationFailed(UNKNOWN)
        if key.scope != ApiKey.Scope.WRITE and request.method not in permissions.SAFE_METHODS:
            raise exceptions.PermissionDenied(READ_ONLY)
        touch([key])
        return KeyPrincipal(key), key

    def authenticate_header(self, request: Any) -> str:
        # Decides 401 (not 403) for an anonymous request, as SimpleJWT's header did when it was first.
        return 'Bearer realm="api"'


class PeopleOnly(permissions.BasePermission):
    """For what only a person may do: their own account, tokens, teams' keys and members (403 for a key)."""

    message = PEOPLE_ONLY

    def has_permission(self, request: Any, view: Any) -> bool:
        return getattr(request.user, "api_key", None) is None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The schema documents both ways to present a key (either one will do)."""

    target_class = ApiKeyAuthentication
    name = ["apiKeyBearer", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]] | None:
        if any(isinstance(p, PeopleOnly) for p in auto_schema.view.get_permissions()):
            return None  # a key is refused there
        return [{"apiKeyBearer": []}, {"apiKeyHeader": []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "pgk_…",
                "description": "A team API key: Authorization: Bearer pgk_…",
            },
            {"type": "apiKey", "in": "header", "name": HEADER, "description": "A team API key: X-Api-Key: pgk_…"},
        ]
