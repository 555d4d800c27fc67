"""What anyone may see without a login (SPEC §15): status pages, their summary JSON, and badges.

Every response here is built from ``services.statuspages`` (safe fields only) and is cached
until what it shows changes (``services.statuspages.cached_public``), so a burst of anonymous
visitors does not reach the database per request.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.links import absolute_url
from monitoring import badges
from monitoring.models import StatusPage
from monitoring.services.logos import SVG
from monitoring.services.statuspage_feeds import CONTENT_TYPES, Kind, build_feed
from monitoring.services.statuspages import (
    UPTIME_WINDOWS,
    badge_server,
    badge_team,
    cached_page,
    cached_public,
    page_seconds,
    uptime_by_server,
    visible_summary,
)
from monitoring.services.subscribers import subscriptions

BADGE_MAX_AGE = 30  # seconds; SPEC §15 allows at most 60


def status_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/status/<slug>/``: the page, rendered now; its script then polls the summary JSON."""
    summary = visible_summary(slug, request.user)
    if summary is None:
        raise Http404("No such status page.")
    response = render(
        request,
        "status_page.html",
        {
            "summary": summary,
            "refresh_seconds": min(15, settings.STATUS_PAGE_CACHE_SECONDS + 5),
            "subscribe_url": f"/api/status-pages/{summary['slug']}/subscribe/",
        },
    )
    response["Cache-Control"] = f"max-age={settings.STATUS_PAGE_CACHE_SECONDS}"
    return response


def domain_page(request: HttpRequest) -> HttpResponse:
    """``/`` on a page's own domain (``monitoring.web.domains``): that page, no login needed."""
    return status_page(request, request.status_page_slug)  # type: ignore[attr-defined]


# An SVG logo is sanitised when stored (services.logos); this stops anything that slipped
# through from running or loading, should someone open the logo's URL on its own.
LOGO_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@require_GET
def status_logo(request: HttpRequest, slug: str) -> HttpResponse:
    """``/status/<slug>/logo``: the page's logo (404 without one, or unless the page is public or yours)."""
    page = StatusPage.objects.filter(slug=slug).exclude(logo_type="").only("logo", "logo_type", "is_public").first()
    if page is None or not (page.is_public or StatusPage.objects.for_user(request.user).filter(pk=page.pk).exists()):
        raise Http404("No such logo.")
    response = HttpResponse(bytes(page.logo or b""), content_type=page.logo_type)
    response["Cache-Control"] = "max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    if page.logo_type == SVG:
        response["Content-Security-Policy"] = LOGO_POLICY
    return response


@require_GET
def confirm_subscription(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed confirmation link (GET): the address now receives the page's messages."""
    subscriber = subscriptions.from_token(token, subscriptions.CONFIRM)
    if subscriber is None:
        return render(request, "subscription.html", {"gone": True}, status=404)
    subscriptions.confirm(subscriber)
    leave = subscriptions.link(subscriber, subscriptions.UNSUBSCRIBE)
    return render(request, "subscription.html", {"page": subscriber.page, "confirmed": True, "unsubscribe": leave})


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs "List-Unsubscribe=One-Click" without a token of ours
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The unsubscribe link of every message (GET, one click) and its ``List-Unsubscribe`` POST."""
    subscriber = subscriptions.from_token(token, subscriptions.UNSUBSCRIBE)
    if subscriber is None:  # already gone: say so, the outcome the visitor wanted
        return render(request, "subscription.html", {"gone": True, "unsubscribed": True})
    page = subscriber.page
    subscriptions.unsubscribe(subscriber)
    return render(request, "subscription.html", {"page": page, "unsubscribed": True})


def status_history(request: HttpRequest, slug: str) -> HttpResponse:
    """``/status/<slug>/history/``: the page's resolved incident posts, each with every update."""
    summary = visible_summary(slug, request.user)
    if summary is None:
        raise Http404("No such status page.")
    response = render(request, "status_history.html", {"summary": summary})
    response["Cache-Control"] = f"max-age={settings.STATUS_PAGE_CACHE_SECONDS}"
    return response


def status_feed(request: HttpRequest, slug: str, kind: Kind) -> HttpResponse:
    """``/status/<slug>/feed.atom`` and ``feed.rss``: public pages only (a feed reader has no login)."""
    page = cached_page(slug)
    if page is None or not page["is_public"]:
        raise Http404("No such status page.")
    base = absolute_url("", request)

    def build() -> bytes | None:
        found = StatusPage.objects.filter(slug=slug, is_public=True).first()
        fresh = cached_page(slug)
        return None if found is None or fresh is None else build_feed(found, fresh["summary"], kind, base)

    feed = cached_public(
        f"statuspage:feed:{kind}:{slug}:{base}",
        lambda: StatusPage.objects.filter(slug=slug).values_list("team_id", flat=True).first(),
        build,
        page_seconds(page),
    )
    if feed is None:
        raise Http404("No such status page.")
    response = HttpResponse(feed, content_type=f"{CONTENT_TYPES[kind]}; charset=utf-8")
    response["Cache-Control"] = f"max-age={settings.STATUS_PAGE_CACHE_SECONDS}"
    return response


class StatusPageSummaryView(APIView):
    """``/api/status-pages/<slug>/summary/``: the public page as JSON (404 unless public or yours)."""

    permission_classes = [AllowAny]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        summary = visible_summary(slug, request.user)
        if summary is None:
            raise Http404("No such status page.")
        return Response(summary, headers={"Cache-Control": f"max-age={settings.STATUS_PAGE_CACHE_SECONDS}"})


def _badge_data(key: str, kind: str, window: str) -> tuple[str, str, str] | None:
    """(label, message, colour) for a badge, cached per key, kind and window like the pages are."""

    def build() -> tuple[str, str, str] | None:
        server = badge_server(key)
        if server is None:
            return None
        if kind == "status":
            return ("status", server.status, badges.STATUS_COLOURS.get(server.status, "lightgrey"))
        if kind == "uptime":
            percent = uptime_by_server([server.pk], timezone.now())[server.pk][window]
            message = "no data" if percent is None else f"{percent:.2f}%".replace(".00%", "%")
            return (f"uptime {window}", message, badges.uptime_colour(percent))
        ms = server.server_status.last_response_time
        return ("response", "no data" if ms is None else f"{ms:.0f} ms", badges.response_colour(ms))

    return cached_public(
        f"badge:{key}:{kind}:{window}",
        lambda: badge_team(key),
        build,
        min(BADGE_MAX_AGE, settings.STATUS_PAGE_CACHE_SECONDS),
    )


def _window(request: HttpRequest) -> str:
    window = request.GET.get("window", "24h")
    if window not in UPTIME_WINDOWS:
        raise Http404("Unknown window; use 24h, 7d, 30d or 90d.")
    return window


@cache_control(max_age=BADGE_MAX_AGE, public=True)
def badge_svg(request: HttpRequest, key: str, kind: str) -> HttpResponse:
    """``/badge/<key>/status.svg``, ``uptime.svg?window=…`` and ``response.svg``."""
    window = _window(request) if kind == "uptime" else ""
    data = _badge_data(key, kind, window)
    if data is None:
        raise Http404("No such badge.")
    return HttpResponse(badges.render_svg(*data), content_type="image/svg+xml")


@cache_control(max_age=BADGE_MAX_AGE, public=True)
def badge_shields(request: HttpRequest, key: str) -> JsonResponse:
    """``/badge/<key>/shields.json``: shields.io's endpoint format (``?kind=uptime&window=30d`` too)."""
    kind = request.GET.get("kind", "status")
    if kind not in {"status", "uptime", "response"}:
        raise Http404("Unknown kind; use status, uptime or response.")
    data = _badge_data(key, kind, _window(request) if kind == "uptime" else "")
    if data is None:
        raise Http404("No such badge.")
    label, message, colour = data
    return JsonResponse({"schemaVersion": 1, "label": label, "message": message, "color": colour})
