"""Team API keys on the API (SPEC §17): the key itself appears once, in the answer to its creation."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from authentication.models import ApiKey


class KeyCreatorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class ApiKeySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A key as lists show it: never the key, only the prefix that recognises it."""

    name = serializers.CharField(max_length=100)  # trimmed (SPEC §23); NUL characters are a 400
    scope = serializers.ChoiceField(choices=ApiKey.Scope.choices, default=ApiKey.Scope.READ)
    created_by = KeyCreatorSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "scope", "prefix", "created_by", "created_at", "last_used_at"]
        read_only_fields = ["id", "prefix", "created_by", "created_at", "last_used_at"]

    def validate_name(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Name the key (what uses it).")
        return value


class NewApiKeySerializer(ApiKeySerializer):
    """The answer to a creation: the key's fields and ``key`` itself, shown this once."""

    key = serializers.SerializerMethodField()

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]

    def get_key(self, obj: ApiKey) -> str:
        raw: Any = self.context.get("raw_key", "")
        return str(raw)
