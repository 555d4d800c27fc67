"""Check results, statuses, incidents, history and uptime as the API shows them (SPEC §4, §9)."""

from __future__ import annotations

from typing import Any

from django.db.models import Manager
from rest_framework import serializers

from api.filtersets import known_location
from monitoring import payloads
from monitoring.models import (
    Incident,
    PingResult,
    ServerStatus,
)
from monitoring.services.history.charts import WINDOWS
from monitoring.services.locations import servers as server_locations


class PingResultSerializer(serializers.ModelSerializer):
    """Renders with ``payloads.ping_payload``, the live feeds' shape; Meta describes it for the schema."""

    location = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text="The probe location's slug.")

    def to_representation(self, instance: PingResult) -> dict[str, Any]:
        return dict(payloads.ping_payload(instance))

    class Meta:
        model = PingResult
        fields = [
            "id",
            "server",
            "status",
            "response_time",
            "status_code",
            "error_message",
            "check_timestamp",
            "maintenance",
            "kind",
            "body",
            "value",
            "detail",
            "location",
        ]
        read_only_fields = fields


class ServerStatusListSerializer(serializers.ListSerializer):
    """A page of statuses with their servers' locations read in one query (``states_of``); the
    list reads only ``payloads.STATUS_FIELDS`` of them (``ServerStatusViewSet``)."""

    def to_representation(self, data: Any) -> list[dict[str, Any]]:
        states = list(data.all() if isinstance(data, Manager) else data)
        located = server_locations.states_of(states)
        return [{**payloads.status_payload(state), "locations": located[state.server_id]} for state in states]


class ServerStatusSerializer(serializers.ModelSerializer):
    """Renders with ``payloads.status_payload``, the live feeds' shape; Meta describes it for the schema."""

    server_name = serializers.ReadOnlyField(source="server.name")

    locations = serializers.SerializerMethodField(
        help_text="The latest state at each of its locations, in order: {slug, name, status, response_time, last_check}"
    )

    def to_representation(self, instance: ServerStatus) -> dict[str, Any]:
        return {**payloads.status_payload(instance), "locations": server_locations.states(instance)}

    def get_locations(self, instance: ServerStatus) -> list[server_locations.LocationState]:
        return server_locations.states(instance)  # the schema's; to_representation renders

    class Meta:
        model = ServerStatus
        fields = [
            "id",
            "server",
            "server_name",
            "status",
            "uptime_percentage",
            "last_check",
            "last_response_time",
            "consecutive_failures",
            "message",
            "last_status_change",
            "locations",
        ]
        read_only_fields = fields
        list_serializer_class = ServerStatusListSerializer


class IncidentSerializer(serializers.ModelSerializer):
    server_name = serializers.ReadOnlyField(source="server.name")
    is_open = serializers.ReadOnlyField()
    acknowledged_by = serializers.ReadOnlyField(source="acknowledged_by.username", default=None)

    class Meta:
        model = Incident
        fields = [
            "id",
            "server",
            "server_name",
            "started_at",
            "ended_at",
            "is_open",
            "first_error",
            "duration_seconds",
            "opening_change",
            "closing_change",
            "acknowledged_at",
            "acknowledged_by",
            "timeline",
        ]
        read_only_fields = fields


class UptimeQuerySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS), default="24h")
    location = serializers.SlugField(
        max_length=50,
        required=False,
        help_text="A location's slug: only the checks run from there, read from raw rows (hourly "
        "rollups are of all locations together, so hours already pruned count nothing).",
    )

    def validate_location(self, value: str) -> str:
        return known_location(self.context["request"].user, value)


class HistoryBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    checks = serializers.IntegerField()
    failures = serializers.IntegerField()
    maintenance = serializers.IntegerField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    response_time_avg = serializers.FloatField(allow_null=True)
    response_time_p95 = serializers.FloatField(allow_null=True)
    response_time_max = serializers.FloatField(allow_null=True)
    value_avg = serializers.FloatField(allow_null=True, help_text="A push monitor's values (SPEC §19).")
    value_min = serializers.FloatField(allow_null=True)
    value_max = serializers.FloatField(allow_null=True)


class HistorySerializer(serializers.Serializer):
    window = serializers.CharField()
    bucket_seconds = serializers.IntegerField()
    buckets = HistoryBucketSerializer(many=True)


class UptimeSerializer(serializers.Serializer):
    window = serializers.CharField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    checks = serializers.IntegerField()
    failures = serializers.IntegerField()
    response_time_p50 = serializers.FloatField(allow_null=True)
    response_time_p95 = serializers.FloatField(allow_null=True)
    incidents = serializers.IntegerField()
    mttr_seconds = serializers.FloatField(allow_null=True)
