"""API representations of the monitoring models, with the validation SPEC §4 asks for."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from monitoring.models import CertificateCheck, NotificationConfig, PingResult, Server, ServerStatus
from monitoring.services import checks, net
from monitoring.services.uptime import WINDOWS
from monitoring.validators import MAX_TAGS, normalize_host, server_errors, validate_tags


class ServerSerializer(serializers.ModelSerializer):
    owner = serializers.ReadOnlyField(source="owner.username")
    url = serializers.ReadOnlyField()
    uptime_percentage = serializers.ReadOnlyField(source="server_status.uptime_percentage")
    last_check = serializers.ReadOnlyField(source="server_status.last_check")
    status_message = serializers.ReadOnlyField(source="server_status.message")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=MAX_TAGS, validators=[validate_tags]
    )

    class Meta:
        model = Server
        fields = [
            "id",
            "name",
            "protocol",
            "host",
            "port",
            "path",
            "url",
            "check_interval",
            "timeout",
            "status",
            "status_message",
            "uptime_percentage",
            "last_check",
            "tags",
            "notifications",
            "owner",
            "method",
            "expected_status_codes",
            "keyword",
            "verify_tls",
            "retries",
            "degraded_threshold_ms",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "created_at", "updated_at"]

    def validate_host(self, value: str) -> str:
        try:
            host = normalize_host(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        # An IP literal can be judged now; hostnames are resolved and judged at each check.
        with contextlib.suppress(ValueError):
            if not settings.MONITOR_ALLOW_PRIVATE_TARGETS and net.is_private(ipaddress.ip_address(host)):
                raise serializers.ValidationError(
                    f"{host} is a private or reserved address; this installation does not monitor those "
                    "(MONITOR_ALLOW_PRIVATE_TARGETS=false)."
                )
        return host

    def validate_tags(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_expected_status_codes(self, value: str) -> str:
        return value.replace(" ", "")

    def validate_path(self, value: str) -> str:
        return value if value.startswith("/") else f"/{value}"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str) -> Any:
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                return getattr(self.instance, name)
            return Server._meta.get_field(name).get_default()

        errors = server_errors(
            protocol=current("protocol"),
            port=current("port"),
            timeout=current("timeout"),
            check_interval=current("check_interval"),
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Server:
        return Server.objects.create(**validated_data)

    def update(self, instance: Server, validated_data: dict[str, Any]) -> Server:
        """Pausing or resuming through ``is_active`` goes through the check engine's rules."""
        active = validated_data.pop("is_active", instance.is_active)
        instance = super().update(instance, validated_data)
        if active != instance.is_active:
            (checks.resume if active else checks.pause)(instance)
            instance.refresh_from_db()
        return instance


class PingResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = PingResult
        fields = ["id", "server", "status", "response_time", "status_code", "error_message", "check_timestamp"]
        read_only_fields = fields


class ServerStatusSerializer(serializers.ModelSerializer):
    server_name = serializers.ReadOnlyField(source="server.name")

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
        ]
        read_only_fields = fields


class OwnedServerField(serializers.PrimaryKeyRelatedField):
    """A server id the requesting user may use; others read as 'does not exist'."""

    def get_queryset(self) -> Any:
        return Server.objects.for_user(self.context["request"].user)


class NotificationConfigSerializer(serializers.ModelSerializer):
    server = OwnedServerField()

    class Meta:
        model = NotificationConfig
        fields = [
            "id",
            "server",
            "notification_type",
            "recipient",
            "enabled",
            "notify_on_failure",
            "notify_on_recovery",
            "cooldown_minutes",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class RunChecksSerializer(serializers.Serializer):
    server_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10_000)


class RunChecksResultSerializer(serializers.Serializer):
    checked = serializers.IntegerField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()
    degraded = serializers.IntegerField()


class UptimeQuerySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS), default="24h")


class UptimeSerializer(serializers.Serializer):
    window = serializers.CharField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    checks = serializers.IntegerField()
    failures = serializers.IntegerField()
    response_time_p50 = serializers.FloatField(allow_null=True)
    response_time_p95 = serializers.FloatField(allow_null=True)
    incidents = serializers.IntegerField()
    mttr_seconds = serializers.FloatField(allow_null=True)


class CertificateCheckSerializer(serializers.ModelSerializer):
    server_name = serializers.ReadOnlyField(source="server.name")

    class Meta:
        model = CertificateCheck
        fields = [
            "id",
            "server",
            "server_name",
            "checked_at",
            "valid",
            "expires_at",
            "days_remaining",
            "issuer",
            "subject",
            "needs_renewal",
            "error",
        ]
        read_only_fields = fields


class CertificateQuerySerializer(serializers.Serializer):
    refresh = serializers.BooleanField(
        default=False, help_text="Check the certificate now instead of reading the latest."
    )
