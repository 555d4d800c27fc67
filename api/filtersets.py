"""Filtersets for the monitoring API, with explicit filters and a Q-based search.

Every filterset derives from ``StrictFilterSet``: a value it cannot read answers 400 naming
the parameter (never ignored, never a 500), and a filter on a related id never reveals
whether that id exists for someone else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField
from rest_framework import exceptions

from authentication import teams
from authentication.models import AuditEntry, Team
from authentication.models.audit import AUDIT_ROLES
from monitoring.choices import AlertEvent, DeliveryStatus, NotificationType, PingStatus, Protocol, Status
from monitoring.models import (
    CertificateCheck,
    EscalationPolicy,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    ProbeLocation,
    Server,
    ServerStatus,
    StatusPage,
)
from monitoring.models.base import visible_team_ids

MAX_ID = 2**63 - 1  # BigAutoField; a larger number overflows PostgreSQL's bigint
# PostgreSQL reads UTC offsets up to ±15:59; Python would take up to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


class StrictBooleanField(forms.Field):
    """true/false/1/0 (any case) or absent; anything else is an error, not "no filter"."""

    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValidationError(f"{str(value)[:50]!r} is not a boolean: use true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class IdField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdFilter(django_filters.NumberFilter):
    """A related object's id compared as a number: an id that is someone else's and one that
    does not exist both just match nothing (a ModelChoiceFilter says "not a valid choice"
    for the second only, which tells a stranger which ids exist)."""

    field_class = IdField


class TimeField(IsoDateTimeField):
    """An ISO 8601 time, made UTC: offsets past ±15:59 and times that leave the calendar in UTC are errors."""

    def clean(self, value: Any) -> datetime | None:
        parsed = super().clean(value)
        return None if parsed is None else as_utc(parsed)


def as_utc(parsed: datetime) -> datetime:
    """An aware time in UTC, or ValidationError for an offset past ±15:59 or a time outside the calendar in UTC.

    Both reached PostgreSQL as 500s ("time zone displacement out of range", OverflowError).
    The SSE feed's ``since`` uses this rule too.
    """
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValidationError("The UTC offset must be between -15:59 and +15:59.", code="invalid")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValidationError("The time is out of range once converted to UTC.", code="invalid") from None


class TimeFilter(django_filters.IsoDateTimeFilter):
    field_class = TimeField


class StrictFilterSet(django_filters.FilterSet):
    """Booleans strict, related ids as bounded numbers, times bounded (see the classes above);
    ``team`` (a slug) keeps one of the caller's teams, and answers 400 for any other."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.DateTimeField: {"filter_class": TimeFilter},
    }

    team = django_filters.CharFilter(method="filter_team", max_length=50, help_text="A team's slug.")

    def filter_team(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        team = Team.objects.filter(slug=value).filter(pk__in=_visible_teams(self.request.user)).first()
        if team is None:
            raise exceptions.ValidationError({"team": [f"You are in no team with the slug {value[:50]!r}."]})
        return queryset.in_team(team)  # type: ignore[attr-defined]


def _visible_teams(user: Any) -> Any:
    ids = visible_team_ids(user)
    return Team.objects.values("pk") if ids is None else ids


def known_location(user: Any, slug: str) -> str:
    """``slug`` when it names a location ``user`` sees (shared or of its teams), else a 400 naming
    ``location``: the ``location`` filter of results, history, uptime and the live feeds (SPEC §20)."""
    # A NUL is in no slug, and PostgreSQL refuses it in a query: answered without asking.
    if "\x00" in slug or not ProbeLocation.objects.for_user(user).filter(slug=slug[:50]).exists():
        raise exceptions.ValidationError(
            {"location": [f"No location with the slug {slug[:50]!r} is shared or your team's (see /api/locations/)."]}
        )
    return slug


class IdInFilter(django_filters.BaseInFilter, IdFilter):
    """``?id=3,5,8``: the servers a picker shows as chosen, by their ids, in one request."""


class ServerFilterSet(StrictFilterSet):
    id = IdInFilter(field_name="id")
    # Columns of the server itself: no join, so no DISTINCT (at 50,000 servers it cost the dashboard
    # a sort of every matching row to count them).
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    protocol = django_filters.MultipleChoiceFilter(choices=Protocol.choices, distinct=False)
    tag = django_filters.CharFilter(method="filter_tag", max_length=50)
    search = django_filters.CharFilter(method="filter_search", max_length=200)

    class Meta:
        model = Server
        fields = ["status", "protocol", "is_active", "notifications", "keyword_absent"]

    def filter_tag(self, queryset: QuerySet[Server], name: str, value: str) -> QuerySet[Server]:
        return queryset.picked([], [value])

    def filter_search(self, queryset: QuerySet[Server], name: str, value: str) -> QuerySet[Server]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(host__icontains=value) | Q(path__icontains=value))


class PingResultFilterSet(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=PingStatus.choices)
    location = django_filters.CharFilter(
        method="filter_location", max_length=50, help_text="A location's slug: the checks run from there."
    )
    since = TimeFilter(field_name="check_timestamp", lookup_expr="gte")
    until = TimeFilter(field_name="check_timestamp", lookup_expr="lte")

    class Meta:
        model = PingResult
        fields = ["server", "status", "kind", "location"]

    def filter_location(self, queryset: QuerySet[PingResult], name: str, value: str) -> QuerySet[PingResult]:
        return queryset.at_location(known_location(self.request.user, value))  # type: ignore[attr-defined]


class ServerStatusFilterSet(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)

    class Meta:
        model = ServerStatus
        fields = ["server", "status"]


class NotificationConfigFilterSet(StrictFilterSet):
    server = IdFilter(field_name="servers", label="Attached to this server")

    class Meta:
        model = NotificationConfig
        fields = ["server", "notification_type", "enabled", "is_default"]


class NotificationDeliveryFilterSet(StrictFilterSet):
    server = IdFilter(method="filter_server", label="About this server (a status change or a certificate of it)")
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    event = django_filters.MultipleChoiceFilter(choices=AlertEvent.choices)
    notification_type = django_filters.ChoiceFilter(
        field_name="config__notification_type", choices=NotificationType.choices
    )
    since = TimeFilter(field_name="created_at", lookup_expr="gte")
    until = TimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = NotificationDelivery
        fields = ["config", "server", "status", "event", "change", "incident", "certificate_check"]

    def filter_server(self, queryset: QuerySet[Any], name: str, value: int) -> QuerySet[Any]:
        # A config serves many servers: the server is the change's, or the certificate check's.
        return queryset.filter(Q(change__server_id=value) | Q(certificate_check__server_id=value))


class IncidentFilterSet(StrictFilterSet):
    open = StrictBooleanFilter(field_name="ended_at", lookup_expr="isnull", label="Open (not yet ended)")
    acknowledged = StrictBooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True, label="Acknowledged"
    )
    since = TimeFilter(field_name="started_at", lookup_expr="gte")
    until = TimeFilter(field_name="started_at", lookup_expr="lte")

    class Meta:
        model = Incident
        fields = ["server", "open"]


class EscalationPolicyFilterSet(StrictFilterSet):
    server = IdFilter(field_name="servers", label="Used by this server")

    class Meta:
        model = EscalationPolicy
        fields = ["team", "server"]


class CertificateCheckFilterSet(StrictFilterSet):
    # ?latest=true keeps each server's newest check: "which certificates need renewal now?"
    latest = StrictBooleanFilter(method="filter_latest")

    class Meta:
        model = CertificateCheck
        fields = ["server", "valid", "needs_renewal"]

    def filter_latest(self, queryset: QuerySet[CertificateCheck], name: str, value: bool) -> QuerySet[CertificateCheck]:
        return queryset.latest_per_server() if value else queryset  # type: ignore[attr-defined]


class StatusPageFilterSet(StrictFilterSet):
    class Meta:
        model = StatusPage
        fields = ["is_public", "servers"]


class MaintenanceWindowFilterSet(StrictFilterSet):
    active = StrictBooleanFilter(method="filter_active", label="Active now")
    server = IdFilter(method="filter_server", label="Reaches this server (by id or by its tags)")

    class Meta:
        model = MaintenanceWindow
        fields = ["enabled", "recurrence", "active", "server"]

    def filter_active(
        self, queryset: QuerySet[MaintenanceWindow], name: str, value: bool
    ) -> QuerySet[MaintenanceWindow]:
        # Recurrences are judged in Python (time zones, weekdays); the candidates are one team's windows.
        now = timezone.now()
        ids = [w.pk for w in queryset if w.is_active_at(now) == value]
        return queryset.filter(pk__in=ids)

    def filter_server(
        self, queryset: QuerySet[MaintenanceWindow], name: str, value: int
    ) -> QuerySet[MaintenanceWindow]:
        server = Server.objects.filter(pk=value).only("id", "team_id", "tags").first()
        if server is None:
            return queryset.none()
        candidates = queryset.filter(team_id=server.team_id).prefetch_related("servers")
        ids = [w.pk for w in candidates if w.covers(server.pk, server.tags, {s.pk for s in w.servers.all()})]
        return queryset.filter(pk__in=ids)


ACTOR = re.compile(r"[0-9]{1,19}|key:[A-Za-z0-9_-]{1,27}")


class AuditEntryFilterSet(StrictFilterSet):
    """The audit log's filters (SPEC §17). ``team`` names a team the caller admins or owns: one
    where the caller is a member or viewer answers 403, one the caller is not in 400."""

    actor = django_filters.CharFilter(
        method="filter_actor", max_length=32, help_text="A user id, or key:<prefix> for an API key."
    )
    action = django_filters.ChoiceFilter(choices=AuditEntry.Action.choices)
    object_type = django_filters.CharFilter(max_length=40)
    since = TimeFilter(field_name="time", lookup_expr="gte")
    until = TimeFilter(field_name="time", lookup_expr="lte")

    class Meta:
        model = AuditEntry
        fields = ["team", "actor", "action", "object_type", "since", "until"]

    def filter_team(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        principal = self.request.user
        team = Team.objects.filter(slug=value).filter(pk__in=_visible_teams(principal)).first()
        if team is None:
            raise exceptions.ValidationError({"team": [f"You are in no team with the slug {value[:50]!r}."]})
        if not getattr(principal, "is_staff", False) and teams.role_in(principal, team.pk) not in AUDIT_ROLES:
            raise exceptions.PermissionDenied("The audit log is for the team's admins and owners.")
        return queryset.filter(team=team)

    def filter_actor(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        if not ACTOR.fullmatch(value):
            raise exceptions.ValidationError({"actor": ["Use a user id or key:<prefix>."]})
        return queryset.filter(actor_ref=value)
