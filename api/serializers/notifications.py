"""Notification configs and their deliveries (SPEC §7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.serializers.fields import E164, REDACTED, FormBooleansMixin, OwnedServerField, reads_only, refuse_private_url
from monitoring.choices import NotificationType
from monitoring.models import (
    NotificationConfig,
    NotificationDelivery,
)

#: Types whose recipient is a URL, often with a token in it (Slack's and Discord's are secrets).
URL_RECIPIENTS = {NotificationType.WEBHOOK, NotificationType.DISCORD, NotificationType.SLACK}


def validate_recipient(notification_type: str, value: str) -> str:
    """An e-mail address, an http(s) URL or an E.164 phone number, as the type needs."""
    value = value.strip()
    if notification_type == NotificationType.EMAIL:
        EmailValidator(message=_("Enter a valid e-mail address."))(value)
    elif notification_type == NotificationType.SMS:
        if not E164.match(value):
            raise serializers.ValidationError("Enter a phone number in E.164 form, e.g. +14155550123.")
    else:
        URLValidator(schemes=["http", "https"], message=_("Enter an http(s) URL."))(value)
        refuse_private_url(value)
    return value


class NotificationConfigSerializer(FormBooleansMixin, serializers.ModelSerializer):
    """``secret`` is write-only: generated when not given, and shown once, in the create response."""

    server = OwnedServerField()
    # Not write_only: the create (and rotate) response does show it, and the schema must say
    # so; to_representation leaves it out of every other response.
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        min_length=16,
        max_length=128,
        help_text="Webhook signing key; generated when not given, and shown only in the create response.",
    )

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
            "notify_on_degraded",
            "cooldown_minutes",
            "secret",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("notification_type", getattr(self.instance, "notification_type", None))
        recipient = attrs.get("recipient", getattr(self.instance, "recipient", None))
        # Checked whenever either changes, so a PATCH of only the type cannot leave a mismatch.
        if kind is not None and recipient is not None and ("recipient" in attrs or "notification_type" in attrs):
            try:
                attrs["recipient"] = validate_recipient(kind, recipient)
            except (serializers.ValidationError, DjangoValidationError) as exc:
                messages = exc.detail if isinstance(exc, serializers.ValidationError) else exc.messages
                raise serializers.ValidationError({"recipient": messages}) from exc
        return attrs

    def create(self, validated_data: dict[str, Any]) -> NotificationConfig:
        instance = super().create(validated_data)
        self._reveal_secret = True
        return instance

    def update(self, instance: NotificationConfig, validated_data: dict[str, Any]) -> NotificationConfig:
        # An empty ``secret`` asks for a new one; like a created one, it is shown this once.
        rotate = validated_data.get("secret") == ""
        instance = super().update(instance, validated_data)
        self._reveal_secret = rotate
        return instance

    def to_representation(self, instance: NotificationConfig) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not getattr(self, "_reveal_secret", False):
            data.pop("secret", None)
        if instance.notification_type in URL_RECIPIENTS and reads_only(self, instance.server.team_id):
            # A viewer sees where alerts go, not the webhook URL's token (SPEC §17).
            parts = urlsplit(data["recipient"])
            data["recipient"] = f"{parts.scheme}://{parts.hostname}/{REDACTED}"
        return data


class NotificationDeliverySerializer(serializers.ModelSerializer):
    server = serializers.ReadOnlyField(source="config.server_id")
    notification_type = serializers.ReadOnlyField(source="config.notification_type")

    class Meta:
        model = NotificationDelivery
        fields = [
            "id",
            "config",
            "server",
            "notification_type",
            "change",
            "incident",
            "certificate_check",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class SendTestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    delivery = serializers.IntegerField()
