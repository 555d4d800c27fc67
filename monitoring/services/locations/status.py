"""A probe location going offline, and coming back (SPEC §20).

A location other than the scheduler's own (``PROBE_LOCATION``) is ``offline`` once none of its
agents has been heard for AGENT_STALE_SECONDS (``went_offline``, a scheduler step and part of
``check_servers``), and ``online`` again at its next agent's call (``came_back``, from the agent
API). Each flip is one conditional UPDATE (``WHERE status = <the old one>``): of the processes
that see it at once, one wins, and only the winner re-judges the location's servers
(``recording.location_status_changed``) and queues the ``location`` alert, in the same
transaction — so each flip is detected, and alerted, once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.models import LocationStatus, ProbeLocation
from monitoring.services.alerts.locations import queue_location_alerts
from monitoring.services.engine.recording import location_status_changed

log = logging.getLogger(__name__)


def went_offline(now: datetime | None = None) -> list[ProbeLocation]:
    """Mark offline each online location (not the scheduler's own) whose agents have been silent
    for AGENT_STALE_SECONDS; the locations this process moved. A location no agent has called yet
    is left alone: it never went offline (its page says it waits for its first agent), and an
    operator who makes one and takes a while to start its agent is not alerted for it."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.AGENT_STALE_SECONDS)
    silent = Q(status=LocationStatus.ONLINE) & Q(last_seen_at__lt=stale)
    candidates = ProbeLocation.objects.exclude(slug=settings.PROBE_LOCATION).filter(silent)
    moved = []
    for location in candidates:
        with transaction.atomic():
            won = (
                ProbeLocation.objects.filter(pk=location.pk)
                .filter(silent)
                .update(status=LocationStatus.OFFLINE, status_changed_at=now)
            )
            if won:
                location.status, location.status_changed_at = LocationStatus.OFFLINE, now
                _changed(location, now)
                moved.append(location)
    return moved


def came_back(location: ProbeLocation, now: datetime | None = None) -> bool:
    """An agent of offline ``location`` was heard: online again; whether this process moved it."""
    now = now or timezone.now()
    with transaction.atomic():
        won = ProbeLocation.objects.filter(pk=location.pk, status=LocationStatus.OFFLINE).update(
            status=LocationStatus.ONLINE, status_changed_at=now
        )
        location.status = LocationStatus.ONLINE
        if won:
            location.status_changed_at = now
            _changed(location, now)
    return bool(won)


def _changed(location: ProbeLocation, now: datetime) -> None:
    log.warning("location_%s location=%s last_seen=%s", location.status, location.slug, location.last_seen_at)
    location_status_changed(location)
    queue_location_alerts(location, now)
