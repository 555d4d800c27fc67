"""Template filters for PulseGuard's pages: one way to write times, durations and percentages.

``static/pulseguard/format.js`` holds the same rules for what the scripts draw; these give the
server-rendered first paint (and a page without JavaScript) the same words.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from authentication import teams
from authentication.models.audit import AUDIT_ROLES

register = template.Library()


def _instant(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@register.filter
def local_time(value: datetime | str | None, missing: str = "never") -> SafeString | str:
    """A ``<time data-local>`` element: UTC in the HTML, the browser's local time with its zone
    once format.js has run (the same words the live updates then write)."""
    instant = _instant(value)
    if instant is None:
        return missing
    utc = instant.astimezone(UTC)
    return format_html(
        '<time datetime="{}" data-local>{} UTC</time>',
        utc.isoformat().replace("+00:00", "Z"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
    )


def _round(x: float) -> int:
    """Halves up, as JavaScript's Math.round (Python's round() goes to even: 90 s would differ)."""
    return math.floor(x + 0.5)


@register.filter
def duration(seconds: float | int | None) -> str:
    """Writes "30 s", "5 min", "2 h 3 min" or "3 d 4 h": PG.fmtDuration's rule, for the same outage
    on the server page, the status page and in live updates."""
    if seconds is None:
        return "–"
    total = max(0, _round(float(seconds)))
    if total < 60:
        return f"{total} s"
    minutes = _round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def percent(value: float | None) -> str:
    """Uptime with two decimals everywhere (PG.fmtPct), "–" when there is nothing to count."""
    return "–" if value in (None, "") else f"{float(value):.2f} %"


@register.filter
def admins_a_team(user: Any) -> bool:
    """Whether the navigation links the audit log: staff, or an admin or owner of some team."""
    if getattr(user, "is_staff", False):
        return True
    return getattr(user, "is_authenticated", False) and any(r in AUDIT_ROLES for r in teams.roles(user).values())


@register.filter
def audit_value(value: Any) -> str:
    """One side of an audit change as text: strings as they are, "–" for nothing, the rest as JSON."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
