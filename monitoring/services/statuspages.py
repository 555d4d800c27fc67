"""The public face of a status page (SPEC §15): a summary made only of fields safe to publish.

Everything a page shows comes from ``page_summary()``; the HTML page, the summary JSON and the
page's live refresh all read it, so there is one place that decides what leaves the building:
server names, statuses, uptime, response times (when the page says so), incident times and
the names and times of active or upcoming maintenance windows. Never a host, URL, port, error
text, message, tag or team.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, NotRequired, TypedDict, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, Sum, prefetch_related_objects
from django.db.models.functions import TruncDate
from django.utils import timezone

from monitoring.choices import Status
from monitoring.models import (
    Announcement,
    HourlyRollup,
    Incident,
    IncidentPost,
    MaintenanceWindow,
    PingResult,
    RawHistoryHorizon,
    Server,
    StatusPage,
)
from monitoring.models.statuspages import NOBODY, entry_built, summary_cache_key, team_version
from monitoring.services.engine.maintenance import windows_for
from monitoring.services.history.rollups import COUNTED, FAILED
from monitoring.services.markdown import render_markdown

UPTIME_WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
BAR_DAYS = 90
#: Resolved posts the summary and the history page carry, newest first.
HISTORY_POSTS = 50
T = TypeVar("T")


class DayBar(TypedDict):
    date: str
    checks: int
    uptime_percentage: float | None


class PublicServer(TypedDict, total=False):
    name: str
    group: str
    status: str
    uptime: dict[str, float | None]
    response_time: float | None
    days: list[DayBar]


class PublicIncident(TypedDict):
    server: str
    started_at: str
    ended_at: str | None
    duration_seconds: int | None


class PublicMaintenance(TypedDict):
    name: str
    starts_at: str
    ends_at: str
    active: bool


class PublicPostUpdate(TypedDict):
    id: int
    status: str
    #: As written (the Markdown subset), and as HTML made by ``render_markdown`` (safe to show).
    message: str
    html: str
    created_at: str


class PublicPost(TypedDict):
    id: int
    title: str
    impact: str
    status: str
    servers: list[str]
    created_at: str
    resolved_at: str | None
    #: Newest first: the front page shows the first.
    updates: list[PublicPostUpdate]


class PublicAnnouncement(TypedDict):
    notice: str
    html: str
    starts_at: str | None
    ends_at: str | None


class PageSummary(TypedDict):
    slug: str
    title: str
    description: str
    accent_color: str
    logo: str | None
    footer_text: str
    #: ``footer_text`` as HTML (the Markdown subset, ``render_markdown``: safe to show).
    footer_html: str
    groups: list[str]
    status: str
    generated_at: str
    servers: list[PublicServer]
    incidents: list[PublicIncident]
    maintenance: list[PublicMaintenance]
    #: Open incident posts (newest first) and resolved ones (the last HISTORY_POSTS).
    posts: list[PublicPost]
    history: list[PublicPost]
    announcements: list[PublicAnnouncement]
    #: When an announcement starts or ends: the cached summary is rebuilt by then (``cached_page``
    #: moves it out of the summary, so a visitor never learns when an unseen one starts).
    changes_at: NotRequired[list[str]]


def public_server_name(page: StatusPage, server: Server) -> str:
    """The name ``page`` shows for ``server``: its ``display_name`` on the page when one is set,
    else its name. Every public surface (page, summary, feeds, e-mails, webhooks) names servers
    through here, so a real name behind a display name never leaves (SPEC §21)."""
    return page.display_names().get(server.pk) or server.name


def display_order(page: StatusPage, servers: list[Server]) -> list[tuple[str, Server]]:
    """(group name, server) for the shown ``servers`` in display order: each group in its order
    with its servers in theirs, then the servers in no group (by name) under no name."""
    by_id = {s.pk: s for s in servers}
    placed: list[tuple[str, Server]] = []
    seen: set[int] = set()
    for group in page.groups or []:
        for entry in group.get("servers", []):
            server = by_id.get(entry["server"])
            if server is not None and server.pk not in seen:
                seen.add(server.pk)
                placed.append((group.get("name", ""), server))
    placed += [("", s) for s in servers if s.pk not in seen]
    return placed


def _percent(checks: int, failures: int) -> float | None:
    return round(100.0 * (checks - failures) / checks, 3) if checks else None


def overall_status(statuses: list[str]) -> str:
    """One word for the page: down if any is down, degraded if any is, up if all are up."""
    if not statuses:
        return Status.UNKNOWN
    for word in (Status.DOWN, Status.DEGRADED, Status.MAINTENANCE):
        if word in statuses:
            return word
    return Status.UP if all(s == Status.UP for s in statuses) else Status.UNKNOWN


def uptime_by_server(server_ids: list[int], now: datetime) -> dict[int, dict[str, float | None]]:
    """Each server's uptime over every window, counted as ``services.history.uptime`` counts (SPEC §23):
    checks in maintenance left out; raw rows from the raw-history horizon on (one grouped query
    on ping_server_time_idx), the hourly rollups of pruned hours before it (one more)."""
    longest = now - max(UPTIME_WINDOWS.values())
    raw_from = RawHistoryHorizon.current()
    counted: Counter[tuple[int, str]] = Counter()
    failed: Counter[tuple[int, str]] = Counter()
    counts: dict[str, Any] = {}
    for window, span in UPTIME_WINDOWS.items():
        counts[f"c_{window}"] = Count("id", filter=Q(check_timestamp__gte=now - span) & COUNTED)
        counts[f"f_{window}"] = Count("id", filter=Q(check_timestamp__gte=now - span) & FAILED)
    pings = PingResult.objects.checks().filter(
        server_id__in=server_ids, check_timestamp__gte=max(longest, raw_from or longest)
    )
    for row in pings.values("server_id").annotate(**counts):
        for window in UPTIME_WINDOWS:
            counted[row["server_id"], window] += row[f"c_{window}"]
            failed[row["server_id"], window] += row[f"f_{window}"]
    if raw_from is not None and raw_from > longest:
        sums: dict[str, Any] = {}
        for window, span in UPTIME_WINDOWS.items():
            since = Q(hour__gte=now - span)
            sums[f"c_{window}"] = Sum(F("checks") - F("maintenance"), filter=since)
            sums[f"f_{window}"] = Sum("failures", filter=since)
        rollups = HourlyRollup.objects.filter(server_id__in=server_ids, hour__gte=longest, hour__lt=raw_from)
        for row in rollups.values("server_id").annotate(**sums):
            for window in UPTIME_WINDOWS:
                counted[row["server_id"], window] += row[f"c_{window}"] or 0
                failed[row["server_id"], window] += row[f"f_{window}"] or 0
    return {pk: {w: _percent(counted[pk, w], failed[pk, w]) for w in UPTIME_WINDOWS} for pk in server_ids}


def daily_bars(server_ids: list[int], today: date) -> dict[int, list[DayBar]]:
    """The last BAR_DAYS days per server, oldest first, days with no checks included: every check
    of the day, and uptime without those in maintenance; pruned hours from their rollups."""
    first = today - timedelta(days=BAR_DAYS - 1)
    raw_from = RawHistoryHorizon.current()
    seen: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0])  # checks, maintenance, failures
    pings = PingResult.objects.checks().filter(server_id__in=server_ids, check_timestamp__date__gte=first)
    if raw_from is not None:
        pings = pings.filter(check_timestamp__gte=raw_from)
    for r in (
        pings.annotate(day=TruncDate("check_timestamp"))
        .values("server_id", "day")
        .annotate(
            checks=Count("id"),
            in_maintenance=Count("id", filter=Q(maintenance=True)),
            failures=Count("id", filter=FAILED),
        )
    ):
        seen[r["server_id"], r["day"]] = [r["checks"], r["in_maintenance"], r["failures"]]
    if raw_from is not None and timezone.localdate(raw_from) >= first:
        rollups = HourlyRollup.objects.filter(server_id__in=server_ids, hour__date__gte=first, hour__lt=raw_from)
        for r in (
            rollups.annotate(day=TruncDate("hour"))
            .values("server_id", "day")
            .annotate(checks=Sum("checks"), in_maintenance=Sum("maintenance"), failures=Sum("failures"))
        ):
            totals = seen[r["server_id"], r["day"]]
            totals[0] += r["checks"]
            totals[1] += r["in_maintenance"]
            totals[2] += r["failures"]
    days = [first + timedelta(days=i) for i in range(BAR_DAYS)]
    bars: dict[int, list[DayBar]] = {}
    for pk in server_ids:
        bars[pk] = []
        for day in days:
            checks, maintenance, failures = seen.get((pk, day), (0, 0, 0))
            uptime = _percent(checks - maintenance, failures)
            bars[pk].append(DayBar(date=day.isoformat(), checks=checks, uptime_percentage=uptime))
    return bars


def current_or_next(window: MaintenanceWindow, now: datetime) -> tuple[datetime, datetime] | None:
    """The window's occurrence under way at ``now``, else its next one; None when it has none to come."""
    return next(((start, end) for start, end in window.occurrences(now) if end > now), None)


def page_maintenance(servers: list[Server], now: datetime) -> list[PublicMaintenance]:
    """Active or upcoming maintenance of the page's servers, soonest first, one entry per window."""
    seen: dict[int, MaintenanceWindow] = {}
    for windows in windows_for(servers).values():
        for window in windows:
            seen.setdefault(window.pk, window)
    found = []
    for window in seen.values():
        span = current_or_next(window, now)
        if span is not None:
            found.append((span, window))
    found.sort(key=lambda item: (item[0][0], item[1].name, item[1].pk))
    return [
        PublicMaintenance(name=w.name, starts_at=start.isoformat(), ends_at=end.isoformat(), active=start <= now)
        for (start, end), w in found
    ]


def post_payload(page: StatusPage, post: IncidentPost, shown: set[int]) -> PublicPost:
    """A post as the public sees it (``updates`` and ``servers`` prefetched): of its servers, only
    those the page shows (``shown``), so a post never names a server the page keeps private."""
    updates = sorted(post.updates.all(), key=lambda u: (u.created_at, u.pk), reverse=True)
    return PublicPost(
        id=post.pk,
        title=post.title,
        impact=post.impact,
        status=post.status,
        servers=sorted(public_server_name(page, s) for s in post.servers.all() if s.pk in shown),
        created_at=post.created_at.isoformat(),
        resolved_at=post.resolved_at.isoformat() if post.resolved_at else None,
        updates=[
            PublicPostUpdate(
                id=u.pk,
                status=u.status,
                message=u.message,
                html=render_markdown(u.message),
                created_at=u.created_at.isoformat(),
            )
            for u in updates
        ],
    )


def page_posts(page: StatusPage, shown: set[int]) -> tuple[list[PublicPost], list[PublicPost]]:
    """The page's open posts and its last HISTORY_POSTS resolved ones, newest first (two queries,
    and two more for their updates and servers when there are any)."""
    posts = IncidentPost.objects.filter(page=page)
    open_posts = list(posts.open())
    resolved = list(posts.resolved().order_by("-resolved_at", "-id")[:HISTORY_POSTS])
    prefetch_related_objects(open_posts + resolved, "updates", "servers")
    return [post_payload(page, p, shown) for p in open_posts], [post_payload(page, p, shown) for p in resolved]


def page_announcements(page: StatusPage, now: datetime) -> tuple[list[PublicAnnouncement], list[str]]:
    """The announcements shown at ``now`` (newest first), and when any of them starts or ends next."""
    shown: list[PublicAnnouncement] = []
    moments: set[datetime] = set()
    for a in Announcement.objects.filter(page=page).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now)):
        if a.starts_at is not None and a.starts_at > now:
            moments.add(a.starts_at)
            continue
        if a.ends_at is not None:
            moments.add(a.ends_at)
        shown.append(
            PublicAnnouncement(
                notice=a.notice,
                html=render_markdown(a.notice),
                starts_at=a.starts_at.isoformat() if a.starts_at else None,
                ends_at=a.ends_at.isoformat() if a.ends_at else None,
            )
        )
    return shown, [m.isoformat() for m in sorted(moments)]


def build_summary(page: StatusPage, now: datetime | None = None) -> PageSummary:
    """Read the page's servers, uptime, daily bars, incidents, maintenance, posts and
    announcements (seven queries, and five more for posts and announcements, whatever its size)."""
    now = now or timezone.now()
    servers = list(page.shown_servers().select_related("server_status"))
    ids = [s.pk for s in servers]
    uptimes = uptime_by_server(ids, now)
    bars = daily_bars(ids, timezone.localdate(now))
    names = {s.pk: public_server_name(page, s) for s in servers}
    incidents = Incident.objects.filter(server_id__in=ids).filter(
        Q(started_at__gte=now - timedelta(days=BAR_DAYS)) | Q(ended_at__isnull=True)
    )
    shown: list[PublicServer] = []
    ordered = display_order(page, servers)
    for group, server in ordered:
        item = PublicServer(
            name=names[server.pk], group=group, status=server.status, uptime=uptimes[server.pk], days=bars[server.pk]
        )
        if page.show_response_times:
            item["response_time"] = server.server_status.last_response_time
        shown.append(item)
    open_posts, history = page_posts(page, set(ids))
    announcements, changes_at = page_announcements(page, now)
    return PageSummary(
        slug=page.slug,
        title=page.title,
        description=page.description,
        accent_color=page.accent_color,
        logo=f"/status/{page.slug}/logo" if page.logo_type else None,
        footer_text=page.footer_text,
        footer_html=render_markdown(page.footer_text) if page.footer_text else "",
        groups=list(dict.fromkeys(group for group, _ in ordered)),
        status=overall_status([s.status for s in servers]),
        generated_at=now.isoformat(),
        servers=shown,
        incidents=[
            PublicIncident(
                server=names[i.server_id],
                started_at=i.started_at.isoformat(),
                ended_at=i.ended_at.isoformat() if i.ended_at else None,
                duration_seconds=i.duration_seconds,
            )
            for i in incidents[:100]
        ],
        maintenance=page_maintenance(servers, now),
        posts=open_posts,
        history=history,
        announcements=announcements,
        changes_at=changes_at,
    )


class CachedPage(TypedDict):
    team_id: int
    is_public: bool
    summary: PageSummary
    #: When announcements start or end (``PageSummary.changes_at``).
    changes_at: list[str]


def cached_public(
    key: str, team_of: Callable[[], int | None], build: Callable[[], T], timeout: int | Callable[[T], int]
) -> T | None:
    """The value at ``key`` in the shared cache while its team's version holds, else ``build()``.

    Pages and badges both read through here. An entry is (team, team's version, value): any
    change of what that team's pages show renews the version (``public_pages_changed``), so
    every web process rebuilds the entry at its next read; ``timeout`` (seconds, or a function
    of the value) only bounds what the clock changes: uptime, response times, a maintenance
    window starting or ending. The version is read before the rows, so a change committed
    meanwhile leaves the new entry stale, never lost.
    """
    entry = cache.get(key)
    if entry is not None:
        team_id, version, value = entry
        if version == team_version(team_id):
            return value
    team_id = team_of()
    if team_id is None:  # a slug or key that names nothing: until a page is created or renamed
        team_id, build = NOBODY, lambda: None
    version = team_version(team_id)
    value = build()
    cache.set(key, (team_id, version, value), timeout if isinstance(timeout, int) else timeout(value))
    entry_built(team_id)
    return value


def page_seconds(page: CachedPage | None) -> int:
    """How long a summary may be served: STATUS_PAGE_CACHE_SECONDS, and not past the next start or
    end of a maintenance window it lists, nor past an announcement's start or end, which no
    write announces (SPEC §23 and §21: within 2 s)."""
    seconds = settings.STATUS_PAGE_CACHE_SECONDS
    if page is None:
        return seconds
    built = datetime.fromisoformat(page["summary"]["generated_at"])
    moments = [m for w in page["summary"]["maintenance"] for m in (w["starts_at"], w["ends_at"])]
    for moment in moments + page.get("changes_at", []):
        left = (datetime.fromisoformat(moment) - built).total_seconds()
        if left > 0:
            seconds = min(seconds, max(1, math.ceil(left)))
    return seconds


def cached_page(slug: str) -> CachedPage | None:
    """The page's summary from the cache: built once per change of its team's pages, and at
    least every ``page_seconds``, so a burst of anonymous visitors reads the cache."""

    def build() -> CachedPage | None:
        page = StatusPage.objects.defer("logo").filter(slug=slug).first()
        if page is None:
            return None
        summary = build_summary(page)
        changes_at = summary.pop("changes_at", [])
        return CachedPage(team_id=page.team_id, is_public=page.is_public, summary=summary, changes_at=changes_at)

    return cached_public(
        summary_cache_key(slug),
        lambda: StatusPage.objects.filter(slug=slug).values_list("team_id", flat=True).first(),
        build,
        page_seconds,
    )


def visible_summary(slug: str, user: Any) -> PageSummary | None:
    """The summary when the page is public or ``user`` sees its team; else None (the caller answers 404)."""
    page = cached_page(slug)
    if page is None:
        return None
    if page["is_public"]:
        return page["summary"]
    if StatusPage.objects.for_user(user).filter(slug=slug).exists():
        return page["summary"]
    return None


def badge_team(key: str) -> int | None:
    """The team of the server behind a badge key (None for a key that names no server)."""
    return Server.objects.filter(badge_key=key).values_list("team_id", flat=True).first()


def badge_server(key: str) -> Server | None:
    """The server behind a badge key, if a public page of its team shows it."""
    server = Server.objects.select_related("server_status").filter(badge_key=key).first()
    if server is None or not StatusPage.objects.public().shows(server):
        return None
    return server
