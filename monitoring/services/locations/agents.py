"""Probe agent tokens (SPEC §20): ``pga_…`` made, shown once, stored as a digest, found again.

A token is ``pga_`` and 43 url-safe characters (32 random bytes), kept as ``AgentToken``:
its first 12 characters (``prefix``) and ``key_hash``, HMAC-SHA-256 of the whole token under
SECRET_KEY, found by an index (as ``authentication.keys`` keeps team API keys). A token is
looked up on every call (no cache), so a revoked one is refused by every process at once.

An agent's call also says its location is alive: ``touch`` notes ``last_seen_at`` (and the
token's ``last_used_at``) at most every ``TOUCH_EVERY``, and brings an offline location back
online (``services.locations.status``).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from authentication.keys import URLSAFE, digest  # one digest for team keys and agent tokens
from monitoring.models import AgentToken, LocationStatus, ProbeLocation
from monitoring.services.locations import status

PREFIX = "pga_"
#: ``pga_`` + ``secrets.token_urlsafe(32)`` (43 characters).
TOKEN_LENGTH = len(PREFIX) + 43
SHOWN_PREFIX = 12
#: ``last_seen_at`` and ``last_used_at`` are written at most this often (each call would be a hot row).
TOUCH_EVERY = timedelta(seconds=5)


def looks_like_token(raw: str | None) -> bool:
    return bool(raw) and raw.startswith(PREFIX)  # type: ignore[union-attr]


def well_formed(raw: str) -> bool:
    """Whether ``raw`` is shaped like a token: ``pga_`` and 43 url-safe characters."""
    return looks_like_token(raw) and len(raw) == TOKEN_LENGTH and URLSAFE.fullmatch(raw[len(PREFIX) :]) is not None


def create_token(location: ProbeLocation, name: str, created_by: Any) -> tuple[AgentToken, str]:
    """Make a token for ``location``'s agents; answer the row and the token itself, stored nowhere."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = AgentToken.objects.create(
        location=location,
        name=name,
        prefix=raw[:SHOWN_PREFIX],
        key_hash=digest(raw),
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return token, raw


def find(raw: str) -> AgentToken | None:
    """The token ``raw`` is, with its location, or None (unknown, revoked, malformed: no query then)."""
    if not well_formed(raw):
        return None
    return AgentToken.objects.select_related("location").filter(key_hash=digest(raw)).first()


def touch(token: AgentToken, now: datetime | None = None) -> None:
    """Note that ``token``'s agent was heard: its ``last_used_at`` and its location's ``last_seen_at``,
    each by one conditional UPDATE when not noted within ``TOUCH_EVERY`` (none at all otherwise);
    an offline location comes back online (``status.came_back``)."""
    now = now or timezone.now()
    since = now - TOUCH_EVERY
    if token.last_used_at is None or token.last_used_at < since:
        AgentToken.objects.filter(pk=token.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=since)).update(
            last_used_at=now
        )
        token.last_used_at = now
    location = token.location
    if location.last_seen_at is None or location.last_seen_at < since:
        ProbeLocation.objects.filter(pk=location.pk).filter(
            Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=since)
        ).update(last_seen_at=now)
        location.last_seen_at = now
    if location.status == LocationStatus.OFFLINE:
        status.came_back(location, now)
