"""What the live feeds read from the database: snapshots, ``latest`` and SSE replay.

Blocking ORM code, called from the WebSocket consumer and the SSE view through
``database_sync_to_async``. Every query starts from ``for_user()``, so a user only ever
sees their teams' servers (staff: all), and renders with ``monitoring.payloads`` (as the REST API does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from monitoring.models import PingResult, ProbeLocation, Server, ServerStatus, StatusChange
from monitoring.models.base import visible_team_ids
from monitoring.payloads import PingPayload, StatusPayload, ping_payload, status_payload

#: One SSE event before formatting: its name (``ping``/``status``), its ``id:`` and its JSON array.
FeedEvent = tuple[str, int, list[Any]]


@dataclass(frozen=True)
class FeedFilter:
    """Which servers and records a feed covers.

    ``server_ids`` None means every server the user may see; ``query`` matches names
    case-insensitively; ``statuses`` keeps servers whose current status is one of them;
    ``since`` narrows snapshots to what changed from then on; ``location`` (a slug, SPEC §20)
    keeps the checks run from there (statuses are the servers', whatever the location).
    """

    server_ids: tuple[int, ...] | None = None
    query: str = ""
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    location: str | None = None

    def servers(self, user: Any) -> QuerySet[Server]:
        """The servers in scope, ignoring ``statuses`` (a subscription outlives a status)."""
        qs = Server.objects.for_user(user)
        if self.server_ids is not None:
            qs = qs.filter(pk__in=self.server_ids)
        if self.query:
            qs = qs.filter(name__icontains=self.query)
        return qs

    def pings(self, user: Any) -> QuerySet[PingResult]:
        qs = PingResult.objects.for_user(user).checks()
        if self.location is not None:
            qs = qs.at_location(self.location)
        if self.server_ids is not None:
            qs = qs.filter(server_id__in=self.server_ids)
        if self.query:
            qs = qs.filter(server__name__icontains=self.query)
        if self.statuses:
            qs = qs.filter(server__status__in=self.statuses)  # Server.status mirrors ServerStatus
        return qs

    def states(self, user: Any) -> QuerySet[ServerStatus]:
        qs = ServerStatus.objects.for_user(user).select_related("server")
        if self.server_ids is not None:
            qs = qs.filter(server_id__in=self.server_ids)
        if self.query:
            qs = qs.filter(server__name__icontains=self.query)
        if self.statuses:
            qs = qs.filter(status__in=self.statuses)
        return qs


def location_known(user: Any, slug: str) -> bool:
    """Whether ``slug`` names a location ``user`` sees (shared, or one of its teams')."""
    return ProbeLocation.objects.for_user(user).filter(slug=slug).exists()


def wanted(location: str | None, ping: PingPayload | None) -> bool:
    """Whether a live check event's ping was checked from ``location`` (None: any; a pause has no ping: kept)."""
    return location is None or ping is None or ping.get("location") == location


def team_ids(user: Any) -> list[int]:
    """The teams whose servers ``user`` (a person or a team API key) sees."""
    teams = visible_team_ids(user)
    return sorted(teams) if isinstance(teams, list) else sorted(teams.values_list("team_id", flat=True))


def server_ids(user: Any, feed: FeedFilter) -> list[int]:
    """The ids in scope that ``user`` may see; others' ids are silently left out."""
    return list(feed.servers(user).order_by("pk").values_list("pk", flat=True))


def statuses(user: Any, feed: FeedFilter) -> list[StatusPayload]:
    """Current ServerStatus of the servers in scope (changed since ``feed.since``), by server id."""
    qs = feed.states(user).order_by("server_id")
    if feed.since is not None:
        qs = qs.filter(updated_at__gte=feed.since)
    return [status_payload(state) for state in qs]


def latest_pings(user: Any, feed: FeedFilter, limit: int) -> list[PingPayload]:
    """The newest ``limit`` PingResults in scope (since ``feed.since``), newest first."""
    qs = feed.pings(user).order_by("-check_timestamp", "-id")
    if feed.since is not None:
        qs = qs.filter(check_timestamp__gte=feed.since)
    return [ping_payload(ping) for ping in qs.recent(limit)[:limit]]


def newest_ping_id(user: Any, feed: FeedFilter) -> int:
    """The id a snapshot carries: the newest ping in scope now, 0 when there is none."""
    plain = FeedFilter(server_ids=feed.server_ids, query=feed.query)
    return plain.pings(user).order_by("-id").values_list("id", flat=True).first() or 0


def replay(user: Any, feed: FeedFilter, after_id: int, max_events: int) -> list[FeedEvent] | None:
    """What a client that last saw ping ``after_id`` missed, or None when over ``max_events`` behind.

    1. Every PingResult in scope with a greater id, in id order, each as a ``ping`` event
       with its own id.
    2. Right after a server's last missed ping, a ``status`` event with its current status
       (the database keeps no past ServerStatus to send after the earlier ones).
    3. Servers paused or resumed since ping ``after_id`` was taken that had no check since:
       a ``status`` event each, with the last id sent, so pauses are not missed either.
    """
    pings = list(feed.pings(user).filter(id__gt=after_id).order_by("id")[: max_events + 1])
    if len(pings) > max_events:
        return None
    last_of_server = {ping.server_id: ping.id for ping in pings}
    touched = set(last_of_server)
    anchor = PingResult.objects.filter(id=after_id).values_list("check_timestamp", flat=True).first()
    if anchor is not None:
        paused = StatusChange.objects.filter(ping__isnull=True, changed_at__gte=anchor, server__in=feed.servers(user))
        touched |= set(paused.values_list("server_id", flat=True))
    states = {s.server_id: s for s in feed.states(user).filter(server_id__in=touched)}

    events: list[FeedEvent] = []
    for ping in pings:
        events.append(("ping", ping.id, [ping_payload(ping)]))
        state = states.get(ping.server_id)
        if last_of_server[ping.server_id] == ping.id and state is not None:
            events.append(("status", ping.id, [status_payload(state)]))
    last_id = pings[-1].id if pings else after_id
    for server_id in sorted(touched - set(last_of_server)):
        if server_id in states:
            events.append(("status", last_id, [status_payload(states[server_id])]))
    return events
