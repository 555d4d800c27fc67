"""The login throttle: attempts per client address on every way in, counted where every process sees them.

One rate (AUTH_THROTTLE_RATE) and one counter per client address cover the API's register,
token, refresh and verify endpoints, the dashboard's /accounts/login/ and the admin's
/admin/login/. Counts live in Django's default cache, which is the database cache (or Redis
with CACHE_TYPE=redis), so several daphne processes share them.

The client address is REMOTE_ADDR, unless the peer is one of TRUSTED_PROXIES: then
X-Forwarded-For is read from the right, skipping trusted proxies, and the first address
that is not one of them is the client's. With no proxies configured the header is ignored,
so a client cannot choose its own address (nor lock out someone else's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import SimpleRateThrottle

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


class AuthRateThrottle(SimpleRateThrottle):
    """Login and registration attempts per client address, at AUTH_THROTTLE_RATE (read per request)."""

    scope = "auth"

    def get_rate(self) -> str:
        return settings.AUTH_THROTTLE_RATE

    def get_ident(self, request: Any) -> str:
        return client_address(request.META)

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Throttle a plain Django login view's POSTs with the API's counter (429 with Retry-After)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            throttle = AuthRateThrottle()
            if not throttle.allow_request(request, None):
                wait = throttle.wait()
                response = HttpResponse(
                    "Too many login attempts; try again later.", status=429, content_type="text/plain"
                )
                if wait is not None:
                    response["Retry-After"] = str(max(1, int(wait)))
                return response
        return view(request, *args, **kwargs)

    return wrapper
