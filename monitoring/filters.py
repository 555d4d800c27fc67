"""Filtersets for the monitoring API, with explicit filters and a Q-based search."""

from __future__ import annotations

import json

import django_filters
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, NotificationType, PingStatus, Protocol, Status
from monitoring.models import (
    CertificateCheck,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    Server,
    ServerStatus,
)


class ServerFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    protocol = django_filters.MultipleChoiceFilter(choices=Protocol.choices)
    tag = django_filters.CharFilter(method="filter_tag", max_length=50)
    search = django_filters.CharFilter(method="filter_search", max_length=200)

    class Meta:
        model = Server
        fields = ["status", "protocol", "is_active", "notifications"]

    def filter_tag(self, queryset: QuerySet[Server], name: str, value: str) -> QuerySet[Server]:
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment; tags are plain tokens, so a quoted match is exact.
        return queryset.annotate(tags_text=Cast("tags", TextField())).filter(tags_text__contains=json.dumps(value))

    def filter_search(self, queryset: QuerySet[Server], name: str, value: str) -> QuerySet[Server]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(host__icontains=value) | Q(path__icontains=value))


class PingResultFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=PingStatus.choices)
    since = django_filters.IsoDateTimeFilter(field_name="check_timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="check_timestamp", lookup_expr="lte")

    class Meta:
        model = PingResult
        fields = ["server", "status"]


class ServerStatusFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)

    class Meta:
        model = ServerStatus
        fields = ["server", "status"]


class NotificationConfigFilterSet(django_filters.FilterSet):
    class Meta:
        model = NotificationConfig
        fields = ["server", "notification_type", "enabled"]


class NotificationDeliveryFilterSet(django_filters.FilterSet):
    server = django_filters.NumberFilter(field_name="config__server_id")
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    event = django_filters.MultipleChoiceFilter(choices=AlertEvent.choices)
    notification_type = django_filters.ChoiceFilter(
        field_name="config__notification_type", choices=NotificationType.choices
    )
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = NotificationDelivery
        fields = ["config", "server", "status", "event", "change", "incident"]


class IncidentFilterSet(django_filters.FilterSet):
    open = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull", label="Open (not yet ended)")
    since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lte")

    class Meta:
        model = Incident
        fields = ["server", "open"]


class CertificateCheckFilterSet(django_filters.FilterSet):
    # ?latest=true keeps each server's newest check: "which certificates need renewal now?"
    latest = django_filters.BooleanFilter(method="filter_latest")

    class Meta:
        model = CertificateCheck
        fields = ["server", "valid", "needs_renewal"]

    def filter_latest(self, queryset: QuerySet[CertificateCheck], name: str, value: bool) -> QuerySet[CertificateCheck]:
        return queryset.latest_per_server() if value else queryset  # type: ignore[attr-defined]


class MaintenanceWindowFilterSet(django_filters.FilterSet):
    active = django_filters.BooleanFilter(method="filter_active", label="Active now")
    server = django_filters.NumberFilter(method="filter_server", label="Reaches this server (by id or by its tags)")

    class Meta:
        model = MaintenanceWindow
        fields = ["enabled", "recurrence", "active", "server"]

    def filter_active(
        self, queryset: QuerySet[MaintenanceWindow], name: str, value: bool
    ) -> QuerySet[MaintenanceWindow]:
        # Recurrences are judged in Python (time zones, weekdays); the candidates are one user's windows.
        now = timezone.now()
        ids = [w.pk for w in queryset if w.is_active_at(now) == value]
        return queryset.filter(pk__in=ids)

    def filter_server(
        self, queryset: QuerySet[MaintenanceWindow], name: str, value: int
    ) -> QuerySet[MaintenanceWindow]:
        server = Server.objects.filter(pk=value).only("id", "owner_id", "tags").first()
        if server is None:
            return queryset.none()
        candidates = queryset.filter(owner_id=server.owner_id).prefetch_related("servers")
        ids = [w.pk for w in candidates if w.covers(server.pk, server.tags, {s.pk for s in w.servers.all()})]
        return queryset.filter(pk__in=ids)
