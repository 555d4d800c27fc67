"""The ``location`` alert (SPEC §20): a probe location went offline, or came back.

Queued for every enabled config whose ``events`` include ``location``: of the location's team,
or, for a shared location, of every team with a server checked from it. One row per config and
flip (``dedupe_key`` names the location, its new status and when), queued in the transaction of
the flip (``services.locations.status``) and sent like any other (``services.alerts.delivery``).
"""

from __future__ import annotations

from datetime import datetime

from monitoring.choices import AlertEvent
from monitoring.models import NotificationConfig, NotificationDelivery, ProbeLocation, ServerLocation


def queue_location_alerts(location: ProbeLocation, now: datetime) -> list[NotificationDelivery]:
    """Queue the ``location`` alert of ``location``'s flip to its present ``status``."""
    if location.team_id is not None:
        teams = {location.team_id}
    else:
        teams = set(ServerLocation.objects.filter(location=location).values_list("server__team_id", flat=True))
    configs = [
        config
        for config in NotificationConfig.objects.filter(team_id__in=teams, enabled=True).order_by("pk")
        if config.wants(AlertEvent.LOCATION)
    ]
    key = f"location:{location.pk}:{location.status}:{now.timestamp():.6f}"
    return NotificationDelivery.objects.bulk_create(
        [
            NotificationDelivery(
                config=config,
                event=AlertEvent.LOCATION,
                location=location,
                location_status=location.status,
                dedupe_key=key,
                next_attempt_at=now,
                created_at=now,
            )
            for config in configs
        ],
        ignore_conflicts=True,
    )
