"""Agent tokens (SPEC §20): ``pga_…`` made, shown once, stored as a digest — as team API keys
are (``authentication.keys``): ``pga_`` and ``secrets.token_urlsafe(32)``; the first 12
characters kept as ``prefix``; ``key_hash`` the HMAC-SHA-256 of the whole token under SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings

from monitoring.models import AgentToken, ProbeLocation

PREFIX = "pga_"
SHOWN_PREFIX = 12


def digest(raw: str) -> str:
    """HMAC-SHA-256 of the whole token under SECRET_KEY, in hex (``AgentToken.key_hash``)."""
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


def create_token(location: ProbeLocation, name: str, created_by: Any) -> tuple[AgentToken, str]:
    """Make a token for ``location``; answer the row and the token itself, which is stored nowhere."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = AgentToken.objects.create(
        location=location,
        name=name,
        prefix=raw[:SHOWN_PREFIX],
        key_hash=digest(raw),
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return token, raw
