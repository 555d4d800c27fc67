"""Every status word PulseGuard uses, once (SPEC §3)."""

from __future__ import annotations

from django.db import models


class Protocol(models.TextChoices):
    HTTP = "http", "HTTP"
    HTTPS = "https", "HTTPS"
    TCP = "tcp", "TCP"
    # More kinds of checks (SPEC §19).
    PING = "ping", "Ping (ICMP)"
    DNS = "dns", "DNS"
    SMTP = "smtp", "SMTP"
    POSTGRES = "postgres", "PostgreSQL"
    MYSQL = "mysql", "MySQL / MariaDB"
    REDIS = "redis", "Redis"
    GRPC = "grpc", "gRPC health"
    WEBSOCKET = "websocket", "WebSocket"
    # Never probed: a job calls its push URL instead (SPEC §11).
    PUSH = "push", "Push (heartbeat)"


class DnsRecordType(models.TextChoices):
    """What a ``dns`` check asks for (SPEC §19)."""

    A = "A", "A"
    AAAA = "AAAA", "AAAA"
    CNAME = "CNAME", "CNAME"
    MX = "MX", "MX"
    NS = "NS", "NS"
    TXT = "TXT", "TXT"
    SOA = "SOA", "SOA"
    SRV = "SRV", "SRV"
    CAA = "CAA", "CAA"


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
    # Services with an API of their own (SPEC §18); their defaults live in validators.SERVICE_BASE_URLS.
    APPRISE = "apprise", "Apprise"
    TELEGRAM = "telegram", "Telegram"
    MSTEAMS = "msteams", "Microsoft Teams"
    PAGERDUTY = "pagerduty", "PagerDuty"
    OPSGENIE = "opsgenie", "Opsgenie"
    NTFY = "ntfy", "ntfy"
    PUSHOVER = "pushover", "Pushover"
    GOTIFY = "gotify", "Gotify"
    MATRIX = "matrix", "Matrix"


class AlertEvent(models.TextChoices):
    """What an alert is about (the webhook body's ``event``, SPEC §7)."""

    DOWN = "down", "Down"
    RECOVERY = "recovery", "Recovery"
    DEGRADED = "degraded", "Degraded"
    TEST = "test", "Test"
    # About a server's TLS certificate, not its status (SPEC §13).
    CERTIFICATE_EXPIRING = "certificate_expiring", "Certificate expiring"
    CERTIFICATE_INVALID = "certificate_invalid", "Certificate invalid"
    # A maintenance window started or ended for a server of the config (SPEC §18), an open
    # incident still unacknowledged, and an incident acknowledged (PagerDuty and Opsgenie are told).
    REMINDER = "reminder", "Reminder"
    MAINTENANCE_START = "maintenance_start", "Maintenance started"
    MAINTENANCE_END = "maintenance_end", "Maintenance ended"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    # A probe location went offline or came back (SPEC §20): about the location, not a server.
    LOCATION = "location", "Location offline or online"


class ConfigEvent(models.TextChoices):
    """What a notification config may hear of (its ``events``, SPEC §18)."""

    DOWN = "down", "Down"
    RECOVERY = "recovery", "Recovery"
    DEGRADED = "degraded", "Degraded"
    CERTIFICATE = "certificate", "Certificate"
    MAINTENANCE = "maintenance", "Maintenance start and end"
    REMINDER = "reminder", "Reminder"
    LOCATION = "location", "Location"
    TEST = "test", "Test"


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
    # Goes (or went) out inside another delivery's grouped message (flood control, SPEC §18):
    # ``group`` names that delivery, whose outcome it takes (``delivered_at`` once it is sent).
    GROUPED = "grouped", "Sent in a group"


class TimelineKind(models.TextChoices):
    """What an entry of an incident's ``timeline`` records (SPEC §18)."""

    OPENED = "opened", "Opened"
    STEP = "step", "Escalation step"
    REMINDER = "reminder", "Reminder"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    SUPPRESSED = "suppressed", "Suppressed"


class PageEvent(models.TextChoices):
    """What a status page tells its subscribers (SPEC §21: the webhook body's ``event``)."""

    POST = "post", "New incident post"
    UPDATE = "update", "Incident update"
    MAINTENANCE_START = "maintenance_start", "Maintenance started"
    MAINTENANCE_END = "maintenance_end", "Maintenance ended"
    DOWN = "down", "Down"
    RECOVERY = "recovery", "Recovery"
    # Only to one unconfirmed e-mail subscriber: the double opt-in link.
    CONFIRM = "confirm", "Confirmation"


class SubscriberKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


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
