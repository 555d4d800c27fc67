"""Every status word PulseGuard uses, once (SPEC §3)."""

from __future__ import annotations

from django.db import models


class Protocol(models.TextChoices):
    HTTP = "http", "HTTP"
    HTTPS = "https", "HTTPS"
    TCP = "tcp", "TCP"
    # Never probed: a job calls its push URL instead (SPEC §11).
    PUSH = "push", "Push (heartbeat)"


class Recurrence(models.TextChoices):
    """How a maintenance window repeats (SPEC §12); empty for a one-off window."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    PATCH = "PATCH", "PATCH"
    DELETE = "DELETE", "DELETE"
    OPTIONS = "OPTIONS", "OPTIONS"


class PingStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    TIMEOUT = "timeout", "Timeout"
    ERROR = "error", "Error"


class PingKind(models.TextChoices):
    """What a stored result is (SPEC §19): a ``check`` counts; a push's ``log`` is only kept and shown."""

    CHECK = "check", "Check"
    LOG = "log", "Log"


class Status(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"
    DEGRADED = "degraded", "Degraded"
    UNKNOWN = "unknown", "Unknown"
    PAUSED = "paused", "Paused"
    MAINTENANCE = "maintenance", "Maintenance"


class NotificationType(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"
    SMS = "sms", "SMS"
    DISCORD = "discord", "Discord"
    SLACK = "slack", "Slack"


class AlertEvent(models.TextChoices):
    """What an alert is about (the webhook body's ``event``, SPEC §7)."""

    DOWN = "down", "Down"
    RECOVERY = "recovery", "Recovery"
    DEGRADED = "degraded", "Degraded"
    TEST = "test", "Test"
    # About a server's TLS certificate, not its status (SPEC §13).
    CERTIFICATE_EXPIRING = "certificate_expiring", "Certificate expiring"
    CERTIFICATE_INVALID = "certificate_invalid", "Certificate invalid"


class DeliveryStatus(models.TextChoices):
    """Where one alert is on its way to one destination."""

    # Waiting to be sent, or to be retried at ``next_attempt_at``.
    PENDING = "pending", "Pending"
    # A DOWN held back by the cooldown: sent when the cooldown ends if the incident is still open.
    DEFERRED = "deferred", "Deferred"
    SENT = "sent", "Sent"
    # Gave up: a permanent error, or NOTIFICATION_MAX_ATTEMPTS used.
    FAILED = "failed", "Failed"
    # Never sent on purpose (cooldown, config switched off before sending); ``last_error`` says why.
    SUPPRESSED = "suppressed", "Suppressed"


class Impact(models.TextChoices):
    """How bad an incident post says things are (SPEC §21)."""

    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class PostStatus(models.TextChoices):
    """Where an incident post stands, as its latest update says (SPEC §21)."""

    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
