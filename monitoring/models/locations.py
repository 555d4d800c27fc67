"""Probe locations (SPEC §20): the places checks run from, their agents' tokens, and each
server's state at each of its locations.

A server is checked from its ``locations`` (``ServerLocation`` rows, in ``position`` order). A
server with no rows is checked from the scheduler's own location only, which is the default:
servers made by any path (bulk creates, imports, code from before locations) need no row, and
the single-location engine reads and writes nothing more. The scheduler's own location is ``settings.PROBE_LOCATION``
(``local`` by default, a shared location made by the migration): its checks are claimed on the
``Server`` row itself (``next_check_at``, ``lease_*``), exactly as before locations existed.
Every other location's checks are claimed by its agents on their ``ServerLocation`` row, which
carries the same schedule and lease fields.

Each ``ServerLocation`` also holds that location's own state (status, failures, message, last
check): ``transitions.evaluate`` moves it, and judges the server's state from all of them by
its ``quorum``. A server with one location keeps its state on ``ServerStatus`` alone (the
location's state is the server's).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.choices import Status
from monitoring.models.base import visible_team_ids


class LocationStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class ProbeLocationQuerySet(models.QuerySet):  # type: ignore[type-arg]
    #: As ``OwnedQuerySet``'s: the API's team policy (``api.viewsets``) reads it.
    team_lookup: ClassVar[str] = "team"

    def for_user(self, principal: Any) -> ProbeLocationQuerySet:
        """What ``principal`` may see and use: every shared location, and its teams' own."""
        if not getattr(principal, "is_authenticated", False):
            return self.none()
        teams = visible_team_ids(principal)
        return self if teams is None else self.filter(Q(team__isnull=True) | Q(team__in=teams))

    def local(self) -> ProbeLocation:
        """The scheduler's own location (``PROBE_LOCATION``), made if missing."""
        slug = settings.PROBE_LOCATION
        location, _ = self.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})
        return location


class ProbeLocation(models.Model):
    """A place checks run from: shared (``team`` null, made by staff) or one team's own."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    team = models.ForeignKey(
        "authentication.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="probe_locations",
        help_text="Empty: a shared location, usable by every team.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    #: When one of its agents last reached the central server (claim, results or heartbeat).
    last_seen_at = models.DateTimeField(null=True, blank=True)
    #: ``offline`` once its agents have been silent for AGENT_STALE_SECONDS (SPEC §20); moved only
    #: by the one process that wins the conditional UPDATE, so it is alerted once each way.
    status = models.CharField(max_length=8, choices=LocationStatus.choices, default=LocationStatus.ONLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    objects = ProbeLocationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def shared(self) -> bool:
        return self.team_id is None

    @property
    def is_local(self) -> bool:
        """The scheduler's own location: checked by ``start_scheduler``, never offline."""
        return self.slug == settings.PROBE_LOCATION


#: Location id -> slug, for results' payloads (a slug never changes, an id is never reused).
_SLUGS: dict[int, str] = {}


def location_slug(location_id: int | None) -> str:
    """The slug of the location a result was checked from (None: the scheduler's own)."""
    if location_id is None:
        return settings.PROBE_LOCATION
    slug = _SLUGS.get(location_id)
    if slug is None:
        slug = ProbeLocation.objects.filter(pk=location_id).values_list("slug", flat=True).first() or ""
        _SLUGS[location_id] = slug
    return slug


class AgentToken(models.Model):
    """A probe agent's credential for one location: ``pga_…``, shown once, stored as a digest."""

    location = models.ForeignKey(ProbeLocation, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    #: ``pga_`` and 8 more characters, to recognise it in lists and logs.
    prefix = models.CharField(max_length=12, db_index=True)
    #: HMAC-SHA-256 of the whole token under SECRET_KEY (as ``ApiKey.key_hash``).
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["location", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ServerLocation(models.Model):
    """One of a server's locations: its place in ``locations``, its schedule there (for an agent's
    location) and its state there."""

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="location_states")
    location = models.ForeignKey(ProbeLocation, on_delete=models.RESTRICT, related_name="server_states")
    position = models.PositiveSmallIntegerField(default=0)
    # The schedule of an agent's location (the scheduler's own location uses the Server row's).
    next_check_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # The state at this location, moved by ``transitions.evaluate``.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    last_check = models.DateTimeField(null=True, blank=True)
    last_response_time = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["server", "position"]
        constraints = [models.UniqueConstraint(fields=["server", "location"], name="serverlocation_unique")]
        indexes = [models.Index(fields=["location", "next_check_at"], name="serverlocation_due_idx")]

    def __str__(self) -> str:
        return f"{self.server_id}@{self.location_id}"


class AgentReceipt(models.Model):
    """An agent result already stored, by its idempotency key: a batch sent twice is stored once.
    Kept for AGENT_RECEIPT_DAYS (pruned with the raw results)."""

    key = models.CharField(max_length=64, unique=True)
    location = models.ForeignKey(ProbeLocation, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.key
