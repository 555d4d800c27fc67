"""Status pages on their own domain (SPEC §21): ``Host: status.example.com`` serves that page at ``/``.

The middleware runs first, before anything reads the host: a request whose Host (case
ignored, port ignored) is a page's ``domain`` is accepted whatever ALLOWED_HOSTS says
(``request.get_host`` answers that host without validating it) and routed through
``core.domain_urls``; a private page's domain answers 404 to everything. Any other Host is
left to Django's validation. Which domain is whose is cached like the pages are
(``services.statuspages.cached_public``): a page's save renews it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound

from monitoring.models import StatusPage
from monitoring.services.statuspages import cached_public

Domain = tuple[str, bool]  # (slug, is_public)


def host_name(raw: str) -> str:
    """The name of a Host header: lower case, without port or trailing dot ('' for an IP literal)."""
    raw = raw.strip().lower()
    if raw.startswith("["):
        return ""
    name = raw.rsplit(":", 1)[0] if ":" in raw else raw
    name = name.rstrip(".")
    if "." not in name or name.replace(".", "").isdigit() or len(name) > 253:
        return ""  # localhost, testserver, an IPv4 literal: never a page's domain
    return name


def page_for(name: str) -> Domain | None:
    def build() -> Domain | None:
        row = StatusPage.objects.filter(domain=name).values_list("slug", "is_public").first()
        return (row[0], row[1]) if row else None

    return cached_public(
        "statuspage:domain:" + hashlib.sha256(name.encode()).hexdigest()[:32],
        lambda: StatusPage.objects.filter(domain=name).values_list("team_id", flat=True).first(),
        build,
        settings.STATUS_PAGE_CACHE_SECONDS,
    )


class PageDomainMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.own = (urlsplit(settings.PUBLIC_URL).hostname or "").lower() if settings.PUBLIC_URL else ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("HTTP_HOST", "")
        name = host_name(raw)
        if not name or name == self.own:
            return self.get_response(request)
        found = page_for(name)
        if found is None:
            return self.get_response(request)
        slug, public = found
        if not public:
            return HttpResponseNotFound("No such status page.", content_type="text/plain")
        request.get_host = lambda: raw  # type: ignore[method-assign]  # accepted: it is a page's domain
        request.status_page_slug = slug  # type: ignore[attr-defined]
        request.urlconf = "core.domain_urls"  # type: ignore[attr-defined]
        return self.get_response(request)
