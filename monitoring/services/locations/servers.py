"""Where a server is checked from (SPEC §20): its ``locations`` as slugs, and writing them.

A server whose locations are exactly ``[PROBE_LOCATION]`` keeps no ``ServerLocation`` row (the
default: the scheduler's own location checks it on the ``Server`` row). Any other list is one
row per location, ``position`` its index; a location kept in the list keeps its row (its state
and schedule), a new one's row is due at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TypedDict

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from monitoring.models import ProbeLocation, Server, ServerLocation, ServerStatus
from monitoring.payloads import iso


class LocationState(TypedDict):
    """A server's latest state at one of its locations (``/api/server-status/``, the server page)."""

    slug: str
    name: str
    status: str
    response_time: float | None
    last_check: str | None


def rows(server: Server) -> list[ServerLocation]:
    """The server's location rows in order (read from a prefetch of ``location_states`` with
    their ``location`` when there is one: list endpoints read them in one query)."""
    return sorted(server.location_states.all(), key=lambda row: row.position)


def slugs(server: Server) -> list[str]:
    """The server's ``locations`` as slugs, in order; ``[PROBE_LOCATION]`` when it has no row."""
    return [row.location.slug for row in rows(server)] or [settings.PROBE_LOCATION]


def slugs_of(server_ids: Collection[int], among: QuerySet[Server] | None = None) -> dict[int, list[str]]:
    """Each server's ``locations`` (as ``slugs``) by id, for many servers in one query: a page of
    servers, or a team's export (``among``: a queryset of them, to filter by instead of the ids)."""
    found: dict[int, list[str]] = {}
    places = ServerLocation.objects.filter(server__in=server_ids if among is None else among)
    for server_id, slug in places.order_by("server_id", "position", "pk").values_list("server_id", "location__slug"):
        found.setdefault(server_id, []).append(slug)
    return {pk: found.get(pk) or [settings.PROBE_LOCATION] for pk in server_ids}


def usable_by(team_id: int | None) -> QuerySet[ProbeLocation]:
    """The locations a server of the team may be checked from: every shared one and the team's own.
    The scheduler's own is made if missing (the migration makes it; a database emptied by hand,
    or by a test, has none), so the default ``locations`` is always valid."""
    ProbeLocation.objects.local()
    return ProbeLocation.objects.filter(Q(team__isnull=True) | Q(team_id=team_id))


def set_locations(server: Server, locations: Sequence[ProbeLocation]) -> bool:
    """Make ``locations`` (in order) the server's; whether that changed them."""
    wanted = [location.slug for location in locations]
    if wanted == slugs(server):
        return False
    with transaction.atomic():
        if wanted == [settings.PROBE_LOCATION]:
            ServerLocation.objects.filter(server=server).delete()
        else:
            ServerLocation.objects.filter(server=server).exclude(location__in=[loc.pk for loc in locations]).delete()
            kept = {row.location_id: row for row in ServerLocation.objects.filter(server=server)}
            for position, location in enumerate(locations):
                row = kept.get(location.pk)
                if row is None:
                    ServerLocation.objects.create(server=server, location=location, position=position)
                elif row.position != position:
                    ServerLocation.objects.filter(pk=row.pk).update(position=position)
    # What was prefetched is stale now.
    getattr(server, "_prefetched_objects_cache", {}).pop("location_states", None)
    return True


def states(state: ServerStatus) -> list[LocationState]:
    """The latest state at each of the server's locations, in order. A server with one location
    has it on ``ServerStatus`` (the location's state is the server's); with more, each
    ``ServerLocation`` row has its own. Reads ``state.server.location_states`` (prefetch them,
    with ``location``, for many; or ``states_of``)."""
    found = [
        (row.location.slug, row.location.name, row.status, row.last_response_time, row.last_check)
        for row in rows(state.server)
    ]
    return _states(state, found)


def states_of(states: Sequence[ServerStatus]) -> dict[int, list[LocationState]]:
    """``states`` of many servers' statuses, by server id, with their location rows read in one
    query: a page of ``/api/server-status/``."""
    found: dict[int, list[tuple[str, str, str, float | None, datetime | None]]] = {}
    places = ServerLocation.objects.filter(server_id__in=[state.server_id for state in states])
    for server_id, *row in places.order_by("server_id", "position", "pk").values_list(
        "server_id", "location__slug", "location__name", "status", "last_response_time", "last_check"
    ):
        found.setdefault(server_id, []).append(tuple(row))  # type: ignore[arg-type]
    return {state.server_id: _states(state, found.get(state.server_id, [])) for state in states}


def _states(
    state: ServerStatus, found: list[tuple[str, str, str, float | None, datetime | None]]
) -> list[LocationState]:
    """``states`` from the server's location rows as ``(slug, name, status, response time, last check)``."""
    if len(found) <= 1:
        slug, name = (
            found[0][:2] if found else (settings.PROBE_LOCATION, settings.PROBE_LOCATION.replace("-", " ").title())
        )
        return [
            {
                "slug": slug,
                "name": name,
                "status": state.status,
                "response_time": state.last_response_time,
                "last_check": iso(state.last_check),
            }
        ]
    return [
        {"slug": slug, "name": name, "status": status, "response_time": response_time, "last_check": iso(last_check)}
        for slug, name, status, response_time, last_check in found
    ]
