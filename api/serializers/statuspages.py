"""Status pages (SPEC §15, §21): the page, its look, and its subscribers."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import EmailValidator, URLValidator
from rest_framework import serializers

from api.serializers.fields import (
    FormBooleansMixin,
    OwnedServerField,
    TagsField,
    TeamField,
    refuse_private_url,
    target_team_id,
)
from monitoring.choices import SubscriberKind
from monitoring.models import Server, StatusPage, Subscriber
from monitoring.services.logos import LogoError, read_logo

MAX_GROUPS = 50
HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# A bare host name: labels of letters, digits and hyphens, at least two of them, no port.
HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOST_NAME = re.compile(rf"{HOST_LABEL}(?:\.{HOST_LABEL})+")


class GroupServerSerializer(serializers.Serializer):
    server = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class GroupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)
    servers = GroupServerSerializer(many=True, required=False, default=list)


class LogoField(serializers.FileField):
    """A PNG or SVG upload (multipart); ``null`` removes the logo. Read as its public URL."""

    def to_internal_value(self, data: Any) -> tuple[bytes, str]:
        upload = super().to_internal_value(data)
        raw = upload.read(262_145)
        try:
            return read_logo(raw)
        except LogoError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def get_attribute(self, instance: StatusPage) -> StatusPage:
        return instance

    def to_representation(self, page: StatusPage) -> str | None:
        return f"/status/{page.slug}/logo" if page.logo_type else None


class StatusPageSerializer(FormBooleansMixin, serializers.ModelSerializer):
    servers = OwnedServerField(many=True, required=False)
    team = TeamField()
    tags = TagsField()
    url = serializers.SerializerMethodField()
    groups = GroupSerializer(many=True, required=False)
    logo = LogoField(required=False, allow_null=True, allow_empty_file=False)
    subscriber_count = serializers.SerializerMethodField()

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "slug",
            "team",
            "title",
            "description",
            "servers",
            "tags",
            "is_public",
            "show_response_times",
            "groups",
            "logo",
            "accent_color",
            "footer_text",
            "domain",
            "publish_outages",
            "subscriber_count",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_url(self, page: StatusPage) -> str:
        return f"/status/{page.slug}/"

    def get_subscriber_count(self, page: StatusPage) -> int:
        counted = getattr(page, "confirmed_subscribers", None)  # annotated by the viewset's list
        return counted if counted is not None else page.subscribers.confirmed().count()

    def validate_accent_color(self, value: str) -> str:
        if value and not HEX_COLOUR.fullmatch(value):
            raise serializers.ValidationError("Use a colour like #0a6 or #00aa66.")
        return value.lower()

    def validate_domain(self, value: str | None) -> str | None:
        if not value:
            return None
        host = value.strip().lower().rstrip(".")
        if ":" in host and not host.startswith("["):
            host = host.rsplit(":", 1)[0]  # a port is ignored, as in a Host header
        if len(host) > 253 or not HOST_NAME.fullmatch(host) or host.replace(".", "").isdigit():
            raise serializers.ValidationError(
                "Use a bare host name such as status.example.com (no scheme, path or port)."
            )
        taken = StatusPage.objects.filter(domain=host)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("Another status page already uses this domain.")
        return host

    def validate_groups(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_GROUPS:
            raise serializers.ValidationError(f"At most {MAX_GROUPS} groups.")
        for group in value:  # a partial update does not make nested fields required; a layout needs them
            if "name" not in group or any("server" not in entry for entry in group.get("servers", [])):
                raise serializers.ValidationError("Each group needs a name and each of its servers a server id.")
            group.setdefault("servers", [])
        ids = [entry["server"] for group in value for entry in group["servers"]]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A server may appear once, in one group.")
        team_id = target_team_id(self)
        known = set(Server.objects.filter(team_id=team_id, pk__in=ids).values_list("pk", flat=True))
        unknown = [pk for pk in ids if pk not in known]
        if unknown:
            raise serializers.ValidationError(f"No server of this team with id {unknown[0]}.")
        return [
            {
                "name": group["name"].strip(),
                "servers": [
                    {"server": e["server"], "display_name": e.get("display_name", "").strip()} for e in group["servers"]
                ],
            }
            for group in value
        ]

    def _store_logo(self, validated: dict[str, Any]) -> None:
        if "logo" not in validated:
            return
        logo = validated.pop("logo")
        validated["logo"], validated["logo_type"] = logo if logo is not None else (None, "")

    def create(self, validated_data: dict[str, Any]) -> StatusPage:
        self._store_logo(validated_data)
        return super().create(validated_data)

    def update(self, instance: StatusPage, validated_data: dict[str, Any]) -> StatusPage:
        self._store_logo(validated_data)
        return super().update(instance, validated_data)


class SubscribeSerializer(serializers.Serializer):
    """``{email}`` or ``{webhook_url}``: exactly one."""

    email = serializers.CharField(max_length=254, required=False, validators=[EmailValidator()])
    webhook_url = serializers.CharField(
        max_length=500, required=False, validators=[URLValidator(schemes=["http", "https"])]
    )

    def validate_webhook_url(self, value: str) -> str:
        refuse_private_url(value)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("email" in attrs) == ("webhook_url" in attrs):
            raise serializers.ValidationError({"non_field_errors": ["Give either email or webhook_url."]})
        return attrs

    def kind_and_target(self) -> tuple[str, str]:
        data = self.validated_data
        if "email" in data:
            return SubscriberKind.EMAIL, data["email"]
        return SubscriberKind.WEBHOOK, data["webhook_url"]


class SubscriberSerializer(serializers.ModelSerializer):
    """What the page's admins and owners see of a subscriber (nobody else sees any)."""

    confirmed = serializers.SerializerMethodField()

    class Meta:
        model = Subscriber
        fields = ["id", "kind", "target", "confirmed", "confirmed_at", "created_at"]
        read_only_fields = fields

    def get_confirmed(self, subscriber: Subscriber) -> bool:
        return subscriber.confirmed_at is not None
