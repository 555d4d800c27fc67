"""The login throttle: attempts per client address on every way in, counted where every process sees them.

One rate (AUTH_THROTTLE_RATE) and one counter per client address cover the API's register,
token, refresh and verify endpoints, the dashboard's /accounts/login/ and the admin's
/admin/login/. Counts live in the database (``RateCounter``), so several daphne processes
share them, and each attempt is counted by one atomic upsert (``hit()``): concurrent attempts
cannot read the same count, and nothing else (no cache culling) can reset a counter.

The client address is REMOTE_ADDR, unless the peer is one of TRUSTED_PROXIES: then
X-Forwarded-For is read from the right, skipping trusted proxies, and the first address
that is not one of them is the client's. With no proxies configured the header is ignored,
so a client cannot choose its own address (nor lock out someone else's).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

from authentication.models import RateCounter

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(value: str) -> Address | None:
    value = value.strip().strip("[]")
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def trusted(address: Address | None) -> bool:
    return address is not None and any(address in network for network in settings.TRUSTED_PROXIES)


def client_address(meta: dict[str, Any]) -> str:
    """The address to count a request against (see the module docstring)."""
    remote = meta.get("REMOTE_ADDR", "") or ""
    if not trusted(parse_address(remote)):
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return remote  # a garbled hop: count the proxy itself rather than a made-up name
        if not trusted(address):
            return str(address)
    return remote


PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_rate(rate: str) -> tuple[int, float]:
    """DRF's rate syntax, ``N/second|minute|hour|day`` (only the unit's first letter counts)."""
    allowed, unit = rate.split("/", 1)
    return int(allowed), PERIODS[unit.strip()[0]]


def hit(key: str, period: float, amount: int = 1) -> tuple[int, float]:
    """Count ``amount`` hits (one by default; a batch of pushes counts each) on ``key``; return the
    count in its window and when that window ends (epoch s).

    A window starts at a key's first hit and lasts ``period`` seconds. One statement (an upsert
    with RETURNING, on SQLite and PostgreSQL alike) reads and bumps the count, so two hits at
    the same moment get two different counts. Ended windows are pruned when a new one starts.
    """
    now = time.time()
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, resets_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (key) DO UPDATE SET "
            f"count = CASE WHEN {table}.resets_at > %s THEN {table}.count + excluded.count ELSE excluded.count END, "
            f"resets_at = CASE WHEN {table}.resets_at > %s THEN {table}.resets_at ELSE excluded.resets_at END "
            "RETURNING count, resets_at",
            [key, amount, now + period, now, now],
        )
        count, resets_at = cursor.fetchone()
    if count == amount:
        RateCounter.objects.filter(resets_at__lt=now).delete()
    return count, resets_at


def hit_many(amounts: dict[str, int], period: float) -> dict[str, tuple[int, float]]:
    """``hit()`` for many keys at once (a batch of pushes, ``api.lean_push``): each key counted by its
    amount in one upsert per CHUNK keys; each key's (count, end of its window).

    The keys are written in sorted order, so two processes counting overlapping keys lock their
    rows in the same order and never deadlock."""
    now = time.time()
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    counted: dict[str, tuple[int, float]] = {}
    keys = sorted(amounts)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = ", ".join(["(%s, %s, %s)"] * len(chunk))
        params: list[object] = [value for key in chunk for value in (key, amounts[key], now + period)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (key, count, resets_at) VALUES {rows} "
                f"ON CONFLICT (key) DO UPDATE SET "
                f"count = CASE WHEN {table}.resets_at > %s THEN {table}.count + excluded.count "
                "ELSE excluded.count END, "
                f"resets_at = CASE WHEN {table}.resets_at > %s THEN {table}.resets_at ELSE excluded.resets_at END "
                "RETURNING key, count, resets_at",
                [*params, now, now],
            )
            counted.update((key, (count, resets_at)) for key, count, resets_at in cursor.fetchall())
    if any(counted[key][0] == amounts[key] for key in keys):
        RateCounter.objects.filter(resets_at__lt=now).delete()
    return counted


#: Keys counted by one statement of ``hit_many`` (three parameters each, within SQLite's limit).
CHUNK = 300


class CountedThrottle(BaseThrottle):
    """A DRF throttle over ``hit()``: ``rate()`` allowed per period for each ``key()``.

    ``key()`` returning None leaves the request uncounted (and allowed).
    """

    resets_at = 0.0

    def rate(self) -> str:
        raise NotImplementedError

    def key(self, request: Any, view: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        key = self.key(request, view)
        if key is None:
            return True
        allowed, period = parse_rate(self.rate())
        count, self.resets_at = hit(key, period)
        return count <= allowed

    def wait(self) -> float:
        return max(1.0, self.resets_at - time.time())


class AuthRateThrottle(CountedThrottle):
    """Login and registration attempts per client address, at AUTH_THROTTLE_RATE (read per request)."""

    def rate(self) -> str:
        return settings.AUTH_THROTTLE_RATE

    def key(self, request: Any, view: Any) -> str:
        return f"auth:{client_address(request.META)}"


def throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Throttle a plain Django login view's POSTs with the API's counter (429 with Retry-After)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            throttle = AuthRateThrottle()
            if not throttle.allow_request(request, None):
                response = HttpResponse(
                    "Too many login attempts; try again later.", status=429, content_type="text/plain"
                )
                response["Retry-After"] = str(max(1, int(throttle.wait())))
                return response
        return view(request, *args, **kwargs)

    return wrapper
