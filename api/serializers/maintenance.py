"""Maintenance windows (SPEC §12)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from rest_framework import serializers

from api.serializers.fields import OwnedServerField, TagsField, TeamField
from monitoring import payloads
from monitoring.choices import Recurrence
from monitoring.models import MaintenanceWindow
from monitoring.models.maintenance import MAX_DURATION_MINUTES


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    """A one-off window (``starts_at``/``ends_at``) or a recurring one (``recurrence`` …), not both."""

    owner = serializers.ReadOnlyField(source="owner.username", default=None)
    team = TeamField()
    servers = OwnedServerField(many=True, required=False)
    tags = TagsField()
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, max_length=7
    )
    start_time = serializers.TimeField(
        format="%H:%M", input_formats=["%H:%M"], required=False, allow_null=True, help_text="Local time, HH:MM."
    )
    duration_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_DURATION_MINUTES, required=False, allow_null=True
    )
    timezone = serializers.CharField(max_length=64, required=False, default="UTC", help_text="IANA name.")
    active = serializers.SerializerMethodField()
    next_start = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "name",
            "owner",
            "team",
            "servers",
            "tags",
            "enabled",
            "starts_at",
            "ends_at",
            "recurrence",
            "weekdays",
            "start_time",
            "duration_minutes",
            "timezone",
            "active",
            "next_start",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_active(self, obj: MaintenanceWindow) -> bool:
        return obj.is_active_at(timezone.now())

    def get_next_start(self, obj: MaintenanceWindow) -> str | None:
        return payloads.iso(obj.next_start(timezone.now()))

    def validate_timezone(self, value: str) -> str:
        value = value.strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).") from exc
        return value

    def validate_weekdays(self, value: list[int]) -> list[int]:
        return sorted(set(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str) -> Any:
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                value = getattr(self.instance, name)
                return list(value.all()) if name == "servers" else value
            return MaintenanceWindow._meta.get_field(name).get_default()

        one_off = current("starts_at") is not None or current("ends_at") is not None
        recurring = bool(current("recurrence"))
        errors: dict[str, str] = {}
        if one_off and recurring:
            errors["recurrence"] = "Give either a start and an end, or a repetition, not both."
        elif one_off:
            if current("starts_at") is None or current("ends_at") is None:
                missing = "ends_at" if current("ends_at") is None else "starts_at"
                errors[missing] = "A one-off window needs both a start and an end."
            elif current("ends_at") <= current("starts_at"):
                errors["ends_at"] = "The end must be after the start."
        elif recurring:
            if current("start_time") is None:
                errors["start_time"] = "A repeating window needs a start time (HH:MM)."
            if not current("duration_minutes"):
                errors["duration_minutes"] = "A repeating window needs a duration in minutes."
            if current("recurrence") == Recurrence.WEEKLY and not current("weekdays"):
                errors["weekdays"] = "A weekly window needs at least one weekday (0 = Monday … 6 = Sunday)."
            if current("recurrence") == Recurrence.DAILY and current("weekdays"):
                errors["weekdays"] = "Weekdays are for weekly windows only."
        else:
            errors["non_field_errors"] = (
                "A window needs either a start and an end, or a repetition (daily or weekly) "
                "with a start time and a duration."
            )
        if not current("servers") and not current("tags"):
            errors.setdefault("servers", "Give servers and/or tags for the window to cover.")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs
