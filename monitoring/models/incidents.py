"""Outages: each DOWN opens an incident that the recovery closes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from monitoring.models.base import OwnedQuerySet

if TYPE_CHECKING:
    from monitoring.models.servers import StatusChange


class IncidentQuerySet(OwnedQuerySet):
    team_lookup = "server__team"

    def open(self) -> IncidentQuerySet:
        return self.filter(ended_at__isnull=True)

    def escalation_due(self, now: datetime) -> IncidentQuerySet:
        """Open, unacknowledged incidents whose next escalation step or reminder has come
        (served by incident_escalation_due_idx)."""
        return self.filter(ended_at__isnull=True, acknowledged_at__isnull=True, next_escalation_at__lte=now)


class Incident(models.Model):
    """One outage of one server, from the change to DOWN until it answers again.

    Opened by the StatusChange to DOWN and closed by the first later change to UP or
    DEGRADED, in the same transactions as those changes (``services.alerts.rules``). A pause in
    between does not close it: the outage was not seen to end.
    """

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="incidents")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    first_error = models.CharField(max_length=500, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Set when it closes.")
    opening_change = models.OneToOneField(
        "monitoring.StatusChange", on_delete=models.CASCADE, related_name="opened_incident"
    )
    closing_change = models.OneToOneField(
        "monitoring.StatusChange", on_delete=models.SET_NULL, null=True, blank=True, related_name="closed_incident"
    )
    # Someone took it (SPEC §18): escalation and reminders stop.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="acknowledged_incidents",
    )
    # [{at, kind (TimelineKind), configs: [ids], by, note}], oldest first.
    timeline = models.JSONField(default=list, blank=True)
    # Escalation state (``services.alerts.escalation``): the last step notified (null: none),
    # when, how many reminders went out since, and when the next step or reminder is due.
    escalation_step = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    reminders_sent = models.PositiveIntegerField(default=0, editable=False)
    next_escalation_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["server"], condition=Q(ended_at__isnull=True), name="incident_one_open_per_server"
            ),
        ]
        indexes = [
            # A server's incidents newest first: the API's ?server= filter and the uptime window.
            models.Index(fields=["server", "-started_at"], name="incident_server_time_idx"),
            # Incident.objects.escalation_due(now): the escalation step every few seconds; only
            # open incidents with an escalation to come are in it.
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(next_escalation_at__isnull=False, ended_at__isnull=True),
                name="incident_escalation_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.server_id} down since {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def add_to_timeline(
        self, kind: str, at: datetime, *, configs: list[int] | None = None, by: str | None = None, note: str = ""
    ) -> None:
        """Append one entry (the caller saves)."""
        entry: dict[str, Any] = {"at": at.isoformat(), "kind": str(kind), "configs": sorted(configs or []), "by": by}
        entry["note"] = note
        self.timeline = [*(self.timeline or []), entry]

    def close(self, when: datetime, change: StatusChange | None) -> None:
        """End the outage at ``when`` (the caller saves); escalation stops."""
        self.ended_at = when
        self.next_escalation_at = None
        self.closing_change = change
        self.duration_seconds = max(0, round((when - self.started_at).total_seconds()))
