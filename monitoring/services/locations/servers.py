"""Where a server is checked from (SPEC §20): its ``locations`` as slugs, and writing them.

A server whose locations are exactly ``[PROBE_LOCATION]`` keeps no ``ServerLocation`` row (the
default: the scheduler's own location checks it on the ``Server`` row). Any other list is one
row per location, ``position`` its index; a location kept in the list keeps its row (its state
and schedule), a new one's row is due at once.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    with ``location``, for many)."""
    found = rows(state.server)
    if len(found) <= 1:
        location = found[0].location if found else None
        return [
            {
                "slug": location.slug if location else settings.PROBE_LOCATION,
                "name": location.name if location else settings.PROBE_LOCATION.replace("-", " ").title(),
                "status": state.status,
                "response_time": state.last_response_time,
                "last_check": iso(state.last_check),
            }
        ]
    return [
        {
            "slug": row.location.slug,
            "name": row.location.name,
            "status": row.status,
            "response_time": row.last_response_time,
            "last_check": iso(row.last_check),
        }
        for row in found
    ]
