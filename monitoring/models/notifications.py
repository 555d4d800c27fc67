"""Where and when to send a server's alerts, and every alert on its way (a delivery)."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, NotificationType
from monitoring.models.base import OwnedQuerySet


def default_cooldown() -> int:
    return settings.NOTIFICATION_COOLDOWN_MINUTES


def new_secret() -> str:
    """A fresh webhook signing key (256 bits, hex)."""
    return secrets.token_hex(32)


class NotificationConfigQuerySet(OwnedQuerySet):
    team_lookup = "server__team"


class NotificationConfig(models.Model):
    """One alert destination of one server (an address, URL or phone number) and its rules."""

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="notification_configs")
    notification_type = models.CharField(max_length=10, choices=NotificationType.choices)
    recipient = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    notify_on_failure = models.BooleanField(default=True)
    notify_on_recovery = models.BooleanField(default=True)
    notify_on_degraded = models.BooleanField(default=False, help_text="Also alert when an UP server turns slow.")
    cooldown_minutes = models.PositiveIntegerField(default=default_cooldown, validators=[MaxValueValidator(10_080)])
    # Keys the webhook's X-PulseGuard-Signature; write-only in the API, shown once on create.
    secret = models.CharField(max_length=128, blank=True, default=new_secret)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NotificationConfigQuerySet.as_manager()

    class Meta:
        ordering = ["server_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_notification_type_display()} → {self.recipient}"

    def save(self, *args: object, **kwargs: object) -> None:
        # "Generated when not given": an empty secret from a form or the API gets a fresh one.
        if not self.secret:
            self.secret = new_secret()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class NotificationDeliveryQuerySet(OwnedQuerySet):
    team_lookup = "config__server__team"

    def due(self, now: datetime) -> NotificationDeliveryQuerySet:
        """What a sender may claim now (served by delivery_due_idx).

        Pending or deferred, its time has come, nobody holds a live lease on it, and no
        older delivery to the same destination is still waiting: a destination gets its
        alerts in order (never a recovery before the DOWN it ends).
        """
        waiting = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
        # A member of another group not sent yet waits too (its lead goes out for it).
        unsent_member = Q(status=DeliveryStatus.GROUPED, delivered_at__isnull=True, group__isnull=False) & ~Q(
            group_id=OuterRef("id")
        )
        older_waiting = (
            NotificationDelivery.objects.filter(config_id=OuterRef("config_id"), id__lt=OuterRef("id"))
            .filter(Q(status__in=waiting) | unsent_member)
            .exclude(event=AlertEvent.TEST)
        )
        # Test messages are sent by the request that asked for them, never by a sender.
        return (
            self.filter(
                Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
                status__in=waiting,
                next_attempt_at__lte=now,
            )
            .exclude(event=AlertEvent.TEST)
            .filter(~Exists(older_waiting))
        )


class NotificationDelivery(models.Model):
    """One alert to one destination: written with the status change that caused it, then sent.

    Created in the same transaction as its StatusChange (``services.alerts.rules``), unique on
    (change, config) so one transition never alerts a destination twice. A sender claims it
    with a lease (``claimed_until``), sends outside any transaction, then records
    ``delivered_at`` or schedules the next attempt with backoff (``services.alerts.delivery``).
    """

    config = models.ForeignKey(NotificationConfig, on_delete=models.CASCADE, related_name="deliveries")
    # Null for test messages, which no status change caused.
    change = models.ForeignKey(
        "monitoring.StatusChange", on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    # The outage a DOWN or recovery belongs to; how a recovery finds its DOWN and its downtime.
    incident = models.ForeignKey(
        "monitoring.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    # The certificate check a certificate alert is about (SPEC §13); null for status alerts.
    certificate_check = models.ForeignKey(
        "monitoring.CertificateCheck", on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    # Once-only key of alerts no status change causes: "certificate_expiring:<sha256>:<days>"
    # or "certificate_invalid:<sha256>". Unique per config, so two processes that see the same
    # certificate insert one row between them (the loser's INSERT is ignored).
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, editable=False)
    # Flood control (SPEC §18, ``services.alerts.grouping``): the delivery whose one grouped
    # message carries this alert. The lead points at itself and is the only one a sender sends;
    # the others wait in status ``grouped`` and take its outcome. Null: sent on its own.
    group = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="grouped", editable=False
    )
    event = models.CharField(max_length=24, choices=AlertEvent.choices)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A sender's lease: nobody else takes the row before this time; a crashed sender's lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = NotificationDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            # One transition never alerts a destination twice for one event; a change out of a
            # maintenance window may carry a DOWN (or recovery) and a ``maintenance_end``.
            models.UniqueConstraint(fields=["change", "config", "event"], name="delivery_one_per_change_config_event"),
            models.UniqueConstraint(
                fields=["config", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="delivery_once_per_config_key",
            ),
        ]
        indexes = [
            # NotificationDelivery.objects.due(now): every sender's "what is due?" every few seconds.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.DEFERRED]),
                name="delivery_due_idx",
            ),
            # Cooldown (last alert of this event to this destination) and due()'s "older waiting".
            models.Index(fields=["config", "event", "-created_at"], name="delivery_config_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.config_id} ({self.status})"
