"""Where and when to send a server's alerts, and every alert on its way (a delivery)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from monitoring.choices import AlertEvent, ConfigEvent, DeliveryStatus, NotificationType
from monitoring.models.base import OwnedQuerySet
from monitoring.validators import (
    MAX_BODY_TEMPLATE,
    MAX_TITLE_TEMPLATE,
    SERVICE_BASE_URLS,
    SIGNING_SECRET_TYPES,
    notification_errors,
)


def default_cooldown() -> int:
    return settings.NOTIFICATION_COOLDOWN_MINUTES


def new_secret() -> str:
    """A fresh webhook signing key (256 bits, hex)."""
    return secrets.token_hex(32)


def validate_events(value: object) -> None:
    """A list of distinct ConfigEvent values."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Expected a list of event names.")
    unknown = sorted(set(value) - set(ConfigEvent.values))
    if unknown:
        raise ValidationError(f"Unknown event(s): {', '.join(unknown)}; choose from {', '.join(ConfigEvent.values)}.")


def default_events() -> list[str]:
    """Every event but ``reminder`` (SPEC §18)."""
    return [event.value for event in ConfigEvent if event != ConfigEvent.REMINDER]


#: The config event an alert event belongs to (``events`` names these).
EVENT_OF_ALERT = {
    AlertEvent.DOWN: ConfigEvent.DOWN,
    AlertEvent.RECOVERY: ConfigEvent.RECOVERY,
    AlertEvent.DEGRADED: ConfigEvent.DEGRADED,
    AlertEvent.TEST: ConfigEvent.TEST,
    AlertEvent.CERTIFICATE_EXPIRING: ConfigEvent.CERTIFICATE,
    AlertEvent.CERTIFICATE_INVALID: ConfigEvent.CERTIFICATE,
    AlertEvent.REMINDER: ConfigEvent.REMINDER,
    AlertEvent.MAINTENANCE_START: ConfigEvent.MAINTENANCE,
    AlertEvent.MAINTENANCE_END: ConfigEvent.MAINTENANCE,
    AlertEvent.LOCATION: ConfigEvent.LOCATION,
}


class NotificationConfigQuerySet(OwnedQuerySet):
    team_lookup = "team"

    def create_for(self, *servers: Any, **fields: Any) -> NotificationConfig:
        """A config of the servers' team attached to ``servers`` (the shell's and tests' shorthand)."""
        config = self.create(team_id=servers[0].team_id, **fields)
        config.servers.add(*servers)
        return config

    def of_servers(self, server_ids: Iterable[int]) -> dict[int, list[NotificationConfig]]:
        """The enabled configs attached to each of ``server_ids``, in one query (the alert rules'
        "who hears of this server?" for a whole batch)."""
        through = NotificationConfig.servers.through
        found: dict[int, list[NotificationConfig]] = defaultdict(list)
        links = (
            through.objects.filter(server_id__in=set(server_ids), notificationconfig__in=self.filter(enabled=True))
            .select_related("notificationconfig")
            .order_by("notificationconfig_id")
        )
        for link in links:
            found[link.server_id].append(link.notificationconfig)
        return found


class NotificationConfig(models.Model):
    """One alert destination of a team (an address, URL, chat, topic or key) and its rules,
    attached to any number of the team's servers (SPEC §18).

    What ``recipient``, ``secret`` and ``api_base_url`` mean depends on the type (SPEC §18,
    ``validators.notification_errors``); the README has the table.
    """

    team = models.ForeignKey("authentication.Team", on_delete=models.CASCADE, related_name="notification_configs")
    # Every server of the team whose alerts go here; may be empty (a config kept for later).
    servers = models.ManyToManyField("monitoring.Server", blank=True, related_name="notification_configs")
    # Attached to every server created in the team afterwards, however it is created.
    is_default = models.BooleanField(default=False)
    notification_type = models.CharField(max_length=10, choices=NotificationType.choices)
    # Blank only where one key is the whole setting and it went into ``secret`` (PagerDuty, …).
    recipient = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    # The ConfigEvent values this destination hears of (replaces part two's notify_on_* switches).
    events = models.JSONField(default=default_events, validators=[validate_events])
    cooldown_minutes = models.PositiveIntegerField(default=default_cooldown, validators=[MaxValueValidator(10_080)])
    # Keys the webhook's X-PulseGuard-Signature, or the service's credential (a bot token, an
    # API key); write-only in the API, shown once on create. Generated for the types of SPEC §7.
    secret = models.CharField(max_length=128, blank=True, default="")
    # The service's root (SPEC §18): a default per type, or a self-hosted one; a test's stand-in.
    api_base_url = models.CharField(max_length=300, blank=True)
    # Wording of the alert instead of PulseGuard's own ({server.name}, {status}, …).
    title_template = models.CharField(max_length=MAX_TITLE_TEMPLATE, blank=True)
    body_template = models.TextField(max_length=MAX_BODY_TEMPLATE, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NotificationConfigQuerySet.as_manager()

    class Meta:
        ordering = ["team_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_notification_type_display()} → {self.recipient}"

    def save(self, *args: object, **kwargs: object) -> None:
        # "Generated when not given": an empty signing secret from a form or the API gets a
        # fresh one. A service's credential is never made up (an empty ntfy token means none).
        if not self.secret and self.notification_type in SIGNING_SECRET_TYPES:
            self.secret = new_secret()
        if not self.api_base_url:
            self.api_base_url = SERVICE_BASE_URLS.get(self.notification_type, "")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def wants(self, alert_event: str) -> bool:
        """Whether this destination takes alerts of ``alert_event`` (an AlertEvent)."""
        event = EVENT_OF_ALERT.get(alert_event)  # type: ignore[call-overload]
        return event is not None and event in self.events

    def clean(self) -> None:
        errors = notification_errors(
            self.notification_type,
            recipient=self.recipient,
            secret=self.secret,
            api_base_url=self.api_base_url,
            title_template=self.title_template,
            body_template=self.body_template,
        )
        if errors:
            raise ValidationError(errors)


class NotificationDeliveryQuerySet(OwnedQuerySet):
    team_lookup = "config__team"

    def due(self, now: datetime) -> NotificationDeliveryQuerySet:
        """What a sender may claim now (served by delivery_due_idx).

        Pending or deferred, its time has come, nobody holds a live lease on it, and no
        older delivery of the same server's status to the same destination is still waiting:
        a destination gets each server's alerts in order (never a recovery before the DOWN it
        ends), and one server's DOWN held by the cooldown holds back no other server's.
        """
        waiting = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
        # A member of another group not sent yet waits too (its lead goes out for it).
        unsent_member = Q(status=DeliveryStatus.GROUPED, delivered_at__isnull=True, group__isnull=False) & ~Q(
            group_id=OuterRef("id")
        )
        older_waiting = (
            NotificationDelivery.objects.filter(
                config_id=OuterRef("config_id"),
                change__server_id=OuterRef("change__server_id"),
                id__lt=OuterRef("id"),
            )
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
    # Once-only key of alerts no status change causes: "<server id>:certificate_expiring:<sha256>:<days>"
    # or "<server id>:certificate_invalid:<sha256>" (the server: a config serves many).
    # Unique per config, so two processes that see the same
    # certificate insert one row between them (the loser's INSERT is ignored).
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, editable=False)
    # Flood control (SPEC §18, ``services.alerts.grouping``): the delivery whose one grouped
    # message carries this alert. The lead points at itself and is the only one a sender sends;
    # the others wait in status ``grouped`` and take its outcome. Null: sent on its own.
    group = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="grouped", editable=False
    )
    # The probe location a ``location`` alert is about (SPEC §20), and the status it went to.
    location = models.ForeignKey(
        "monitoring.ProbeLocation", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    location_status = models.CharField(max_length=8, blank=True)
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

    @property
    def server(self) -> Any:
        """The server the alert is about: its status change's, or its certificate check's (None for a test)."""
        if self.change_id is not None:
            return self.change.server
        if self.certificate_check_id is not None:
            return self.certificate_check.server
        return None
