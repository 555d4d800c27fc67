"""Audit rows (SPEC §17): ``{id, time, actor: {type, id, name}, team, action, object_type,
object_id, object_name, changes, ip}``."""

from __future__ import annotations

from rest_framework import serializers

from authentication.models import AuditEntry


class AuditActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AuditEntry.ActorType.choices, source="actor_type")
    id = serializers.IntegerField(source="actor_id", allow_null=True)
    name = serializers.CharField(source="actor_name")


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = AuditActorSerializer(source="*")
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(), help_text="{field: [old, new]}; secrets show as ••••."
    )

    class Meta:
        model = AuditEntry
        fields = ["id", "time", "actor", "team", "action", "object_type", "object_id", "object_name", "changes", "ip"]
        read_only_fields = fields
