"""Where and when to send a server's alerts."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from monitoring.choices import NotificationType
from monitoring.models.base import OwnedQuerySet


def default_cooldown() -> int:
    return settings.NOTIFICATION_COOLDOWN_MINUTES


class NotificationConfigQuerySet(OwnedQuerySet):
    owner_lookup = "server__owner"


class NotificationConfig(models.Model):
    """One alert destination of one server (an address, URL or phone number) and its rules."""

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="notification_configs")
    notification_type = models.CharField(max_length=10, choices=NotificationType.choices)
    recipient = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    notify_on_failure = models.BooleanField(default=True)
    notify_on_recovery = models.BooleanField(default=True)
    cooldown_minutes = models.PositiveIntegerField(default=default_cooldown, validators=[MaxValueValidator(10_080)])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NotificationConfigQuerySet.as_manager()

    class Meta:
        ordering = ["server_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_notification_type_display()} → {self.recipient}"
