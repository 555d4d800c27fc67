"""Probe locations and their agent tokens as the API reads and writes them (SPEC §20)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from api.serializers.fields import TeamField
from api.serializers.keys import KeyCreatorSerializer
from monitoring.models import AgentToken, LocationStatus, ProbeLocation


class ProbeLocationSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """``shared`` is read-only but for a create: staff make a shared location with ``shared: true``."""

    team = TeamField(
        allow_null=True,
        help_text="The slug of the team it belongs to (default: your personal team); null when shared.",
    )
    shared = serializers.BooleanField(
        required=False, default=False, help_text="Staff only, on create: a location for every team."
    )
    slug = serializers.SlugField(
        max_length=50, required=False, help_text="Lower-case letters, digits and hyphens; default: from the name."
    )
    status = serializers.SerializerMethodField(help_text="online, or offline once its agents went silent.")

    class Meta:
        model = ProbeLocation
        fields = ["id", "name", "slug", "description", "team", "shared", "status", "last_seen_at", "created_at"]
        read_only_fields = ["id", "last_seen_at", "created_at"]

    def get_status(self, obj: ProbeLocation) -> str:
        # The scheduler's own location has no agent to go silent: it is always online.
        return LocationStatus.ONLINE if obj.is_local else obj.status

    def to_representation(self, instance: ProbeLocation) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["shared"] = instance.shared
        return data

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Name the location (where its agents run), e.g. Frankfurt.")
        return value.strip()

    def validate_slug(self, value: str) -> str:
        taken = ProbeLocation.objects.filter(slug=value)
        if self.instance is not None:
            if self.instance.is_local and value != self.instance.slug:
                raise serializers.ValidationError(
                    f"The scheduler's own location keeps its slug {settings.PROBE_LOCATION!r} (PROBE_LOCATION)."
                )
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(f"A location with the slug {value!r} exists already; choose another.")
        return value

    def validate_team(self, value: Any) -> Any:
        """Null is a shared location's team; it never takes a team's location from it."""
        if value is None and self.instance is not None and not self.instance.shared:
            raise serializers.ValidationError("An object cannot move to another team: export it and import it there.")
        return value

    def validate_shared(self, value: bool) -> bool:
        if self.instance is not None and value != self.instance.shared:
            raise serializers.ValidationError("A location stays shared or its team's: make a new one instead.")
        return value


class AgentTokenSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A token as lists show it: never the token, only the prefix that recognises it."""

    name = serializers.CharField(max_length=100)
    created_by = KeyCreatorSerializer(read_only=True, allow_null=True)

    class Meta:
        model = AgentToken
        fields = ["id", "name", "prefix", "created_by", "created_at", "last_used_at"]
        read_only_fields = ["id", "prefix", "created_by", "created_at", "last_used_at"]

    def validate_name(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Name the token (the agent or machine that uses it).")
        return value


class NewAgentTokenSerializer(AgentTokenSerializer):
    """The answer to a creation: the token's fields and ``token`` itself, shown this once."""

    token = serializers.SerializerMethodField()

    class Meta(AgentTokenSerializer.Meta):
        fields = [*AgentTokenSerializer.Meta.fields, "token"]

    def get_token(self, obj: AgentToken) -> str:
        return str(self.context.get("raw_token", ""))
