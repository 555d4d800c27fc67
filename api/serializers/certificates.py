"""Certificate checks and the ad-hoc ``/api/check-ssl/`` (SPEC §13)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from monitoring.models import CertificateCheck
from monitoring.validators import normalize_host


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
            "fingerprint_sha256",
        ]
        read_only_fields = fields


class CertificateQuerySerializer(serializers.Serializer):
    refresh = serializers.BooleanField(
        default=False, help_text="Check the certificate now instead of reading the latest."
    )


class CheckSslQuerySerializer(serializers.Serializer):
    """``?url=https://host[:port]``: where to check a certificate now (SPEC §13)."""

    url = serializers.CharField(max_length=2000, help_text="https://host[:port]")

    def validate_url(self, value: str) -> dict[str, Any]:
        try:
            parsed = urlsplit(value.strip())
        except ValueError as exc:  # "https://[::1": an unclosed IPv6 bracket
            raise serializers.ValidationError(f"Not a URL: {exc}.") from exc
        if parsed.scheme.lower() != "https":
            raise serializers.ValidationError(
                "Give an https:// URL, e.g. https://example.com or https://example.com:8443."
            )
        try:
            port = 443 if parsed.port is None else parsed.port
        except ValueError as exc:
            raise serializers.ValidationError("The port must be a number from 1 to 65535.") from exc
        if not 1 <= port <= 65535:
            raise serializers.ValidationError("The port must be a number from 1 to 65535.")
        if not parsed.hostname or parsed.username or parsed.password:
            raise serializers.ValidationError("Give an https://host[:port] URL without credentials.")
        try:
            host = normalize_host(parsed.hostname)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return {"host": host, "port": port}


class CheckSslSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    expiry_date = serializers.DateTimeField(allow_null=True)
    days_remaining = serializers.IntegerField(allow_null=True)
    issuer = serializers.CharField()
    subject = serializers.CharField()
    needs_renewal = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
