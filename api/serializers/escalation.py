"""Escalation policies and acknowledgements (SPEC §18)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers.fields import MAX_ID, TeamField, target_team_id
from monitoring.models import EscalationPolicy, NotificationConfig
from monitoring.models.escalation import MAX_MINUTES, MAX_STEPS
from monitoring.services.alerts import escalation

MAX_CONFIGS_PER_STEP = 50


class EscalationStepSerializer(serializers.Serializer):
    after_minutes = serializers.IntegerField(min_value=0, max_value=MAX_MINUTES)
    notification_configs = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=MAX_CONFIGS_PER_STEP
    )


class EscalationPolicySerializer(serializers.ModelSerializer):
    """``steps`` in order, the first at ``after_minutes`` 0, each naming configs of the policy's team."""

    owner = serializers.ReadOnlyField(source="owner.username", default=None)
    team = TeamField()
    steps = EscalationStepSerializer(many=True, max_length=MAX_STEPS, min_length=1)
    repeat_every_minutes = serializers.IntegerField(min_value=0, max_value=MAX_MINUTES, required=False, default=0)
    servers = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Servers that use it.")

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "owner", "team", "steps", "repeat_every_minutes", "servers", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A policy needs a name.")
        return value

    def validate_steps(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        steps = [
            {
                "after_minutes": s["after_minutes"],
                "notification_configs": list(dict.fromkeys(s["notification_configs"])),
            }
            for s in value
        ]
        if steps[0]["after_minutes"] != 0:
            raise serializers.ValidationError("The first step is notified at once: its after_minutes must be 0.")
        for before, after in zip(steps, steps[1:], strict=False):
            if after["after_minutes"] <= before["after_minutes"]:
                raise serializers.ValidationError("Each step's after_minutes must be greater than the one before.")
        wanted = {pk for s in steps for pk in s["notification_configs"]}
        team_id = self.instance.team_id if isinstance(self.instance, EscalationPolicy) else target_team_id(self)
        found = set(
            NotificationConfig.objects.in_team(team_id).filter(pk__in=wanted).values_list("pk", flat=True)
            if team_id is not None
            else []
        )
        missing = sorted(wanted - found)
        if missing:
            # Another team's id and one that does not exist get the same answer.
            raise serializers.ValidationError(
                f"No notification config of this team has the id(s) {', '.join(map(str, missing))}."
            )
        return steps

    def update(self, instance: EscalationPolicy, validated_data: dict[str, Any]) -> EscalationPolicy:
        before = (instance.steps, instance.repeat_every_minutes)
        instance = super().update(instance, validated_data)
        if (instance.steps, instance.repeat_every_minutes) != before:
            escalation.rearm(instance)  # open incidents follow the new steps at the next run
        return instance


class TeamPolicyField(serializers.PrimaryKeyRelatedField):
    """``escalation_policy``: the id of a policy of the server's team; any other id "does not exist"."""

    def get_queryset(self) -> Any:
        return EscalationPolicy.objects.filter(team_id=target_team_id(self.root))


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
