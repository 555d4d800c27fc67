"""The result of every single check."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models.base import OwnedQuerySet


class PingResultQuerySet(OwnedQuerySet):
    owner_lookup = "server__owner"


class PingResult(models.Model):
    """One check of one server: its outcome, response time and HTTP status code."""

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="ping_results")
    status = models.CharField(max_length=8, choices=PingStatus.choices)
    response_time = models.FloatField(null=True, blank=True, help_text="Milliseconds.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    check_timestamp = models.DateTimeField(default=timezone.now)
    # Taken while a maintenance window covered the server: stored, but left out of uptime (SPEC §12).
    maintenance = models.BooleanField(default=False)

    objects = PingResultQuerySet.as_manager()

    class Meta:
        ordering = ["-check_timestamp", "-id"]
        indexes = [
            # A server's results newest first: the API history, charts and uptime windows.
            models.Index(fields=["server", "-check_timestamp"], name="ping_server_time_idx"),
            # The all-servers history with since/until (staff, cursor pagination).
            models.Index(fields=["-check_timestamp"], name="ping_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id} {self.status} @ {self.check_timestamp:%Y-%m-%d %H:%M:%S}"

    @property
    def failed(self) -> bool:
        return self.status != PingStatus.SUCCESS
