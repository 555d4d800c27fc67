"""What a page tells its subscribers: one ``PageMessage`` per event, fanned out later.

``notify_subscribers()`` is the one way in: posts and their updates (``post_published``, called
by ``statuspage_posts`` as it writes them), and ``on_status_changes()`` for what the check engine records:
maintenance starts and ends of a page's servers, and with ``publish_outages`` each automatic
DOWN and recovery. Both run inside the writer's transaction, so a message commits with what
caused it or not at all, and each costs one INSERT however many subscribers the page has.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from monitoring.choices import PageEvent, Status
from monitoring.models import (
    IncidentPost,
    MaintenanceWindow,
    PageMessage,
    PostUpdate,
    Server,
    StatusChange,
    StatusPage,
    Subscriber,
)
from monitoring.models.servers import picks
from monitoring.services.engine.maintenance import windows_for
from monitoring.services.statuspages import public_server_name


def post_published(post: IncidentPost, update: PostUpdate, *, first: bool) -> PageMessage | None:
    """Queue a new post (``first``: ``update`` is its first) or an update of one for the page's
    subscribers, once per update, inside the writer's transaction."""
    return notify_subscribers(
        post.page,
        PageEvent.POST if first else PageEvent.UPDATE,
        title=post.title,
        status=update.status,
        message=update.message,
        impact=post.impact,
        time=update.created_at,
        dedupe_key=f"post-update:{update.pk}",
    )


def notify_subscribers(
    page: StatusPage,
    event: str,
    *,
    title: str,
    status: str = "",
    message: str = "",
    impact: str = "",
    time: datetime,
    dedupe_key: str | None = None,
) -> PageMessage | None:
    """Queue ``event`` for every confirmed subscriber of ``page``; the message row, or None when
    ``dedupe_key`` was already used for this page (the same event seen twice)."""
    if event not in PageEvent.values or event == PageEvent.CONFIRM:
        raise ValueError(f"not a page event: {event!r}")
    row = PageMessage(
        page=page,
        event=event,
        title=title[:300],
        status=status[:40],
        message=message,
        impact=impact[:20],
        time=time,
        dedupe_key=dedupe_key,
    )
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives a repeat
            row.save()
    except IntegrityError:
        return None
    return row


def _listening_pages(team_ids: set[int]) -> list[StatusPage]:
    """The teams' pages that have a confirmed subscriber, with what picks their servers."""
    listening = Subscriber.objects.filter(page=OuterRef("pk"), confirmed_at__isnull=False)
    return list(
        StatusPage.objects.filter(team_id__in=team_ids)
        .filter(Exists(listening))
        .defer("logo")
        .prefetch_related("servers")
    )


Span = tuple[MaintenanceWindow, datetime, datetime]


def _window_span(
    server: Server, windows: dict[int, list[MaintenanceWindow]], at: datetime, *, ended: bool
) -> Span | None:
    """(window, start, end) of the occurrence that ``at`` starts (or ends) for ``server``; None if unknown."""
    best: Span | None = None
    for window in windows.get(server.pk, []):
        for start, end in window.occurrences(at, days_after=0):
            moment = end if ended else start
            if moment <= at and at - moment < timedelta(days=1) and (best is None or moment > best[2 if ended else 1]):
                best = (window, start, end)
    return best


def on_status_changes(changes: Sequence[StatusChange]) -> int:
    """Queue the page messages ``changes`` (rows just written by the check engine) imply; how many.

    Cheap when nothing is of interest: no query unless a change enters or leaves maintenance,
    or goes DOWN or back up from DOWN, and then one for the pages that have subscribers.
    """
    wanted = [
        c
        for c in changes
        if Status.MAINTENANCE in (c.status, c.previous_status)
        and c.status != c.previous_status
        or (c.status == Status.DOWN and c.previous_status != Status.DOWN)
        or (c.previous_status == Status.DOWN and c.status in (Status.UP, Status.DEGRADED))
    ]
    if not wanted:
        return 0
    servers = {c.server_id: c.server for c in wanted}
    pages = _listening_pages({s.team_id for s in servers.values()})
    if not pages:
        return 0
    windows = (
        windows_for(servers.values())
        if any(Status.MAINTENANCE in (c.status, c.previous_status) for c in wanted)
        else {}
    )
    queued = 0
    for page in pages:
        picked = [s.pk for s in page.servers.all()] + page.grouped_ids()
        for change in wanted:
            server = servers[change.server_id]
            if server.team_id != page.team_id or not picks(server.pk, server.tags, picked, page.tags):
                continue
            queued += len(_queue_change(page, change, server, windows))
    return queued


def _queue_change(
    page: StatusPage, change: StatusChange, server: Server, windows: dict[int, list[MaintenanceWindow]]
) -> list[PageMessage]:
    """A maintenance start or end, and (published) a DOWN or recovery: a DOWN right as a window ends is both."""
    queued: list[PageMessage | None] = []
    if Status.MAINTENANCE in (change.status, change.previous_status):
        queued.append(_maintenance(page, change, server, windows))
    if page.publish_outages:
        queued.append(_outage(page, change, server))
    return [m for m in queued if m is not None]


def _maintenance(
    page: StatusPage, change: StatusChange, server: Server, windows: dict[int, list[MaintenanceWindow]]
) -> PageMessage | None:
    name = public_server_name(page, server)
    at = change.changed_at
    starting = change.status == Status.MAINTENANCE
    event = PageEvent.MAINTENANCE_START if starting else PageEvent.MAINTENANCE_END
    span = _window_span(server, windows, at, ended=not starting)
    if span is None:  # a window deleted or edited meanwhile: one message for this server
        title = f"Maintenance {'started' if starting else 'ended'}: {name}"
        return notify_subscribers(
            page, event, title=title, status=event, time=at, dedupe_key=f"{event}:change:{change.pk}"
        )
    window, start, end = span
    title = f"Maintenance {'started' if starting else 'ended'}: {window.name}"
    detail = f"Scheduled from {start.isoformat()} to {end.isoformat()}."
    # One message per window occurrence, however many of the page's servers it covers.
    key = f"{event}:{window.pk}:{(start if starting else end).isoformat()}"
    return notify_subscribers(page, event, title=title, status=event, message=detail, time=at, dedupe_key=key)


def _outage(page: StatusPage, change: StatusChange, server: Server) -> PageMessage | None:
    name = public_server_name(page, server)
    at = change.changed_at
    if change.status == Status.DOWN and change.previous_status != Status.DOWN:
        return notify_subscribers(
            page, PageEvent.DOWN, title=f"{name} is down", status=Status.DOWN, impact="major", time=at,
            dedupe_key=f"down:{change.pk}",
        )  # fmt: skip
    if change.previous_status != Status.DOWN or change.status not in (Status.UP, Status.DEGRADED):
        return None
    return notify_subscribers(
        page, PageEvent.RECOVERY, title=f"{name} has recovered", status=change.status, impact="none", time=at,
        dedupe_key=f"recovery:{change.pk}",
    )  # fmt: skip
