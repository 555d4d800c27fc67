"""Notification configs and their deliveries (SPEC §7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.fields import (
    E164,
    REDACTED,
    FormBooleansMixin,
    OwnedServerField,
    TeamField,
    reads_only,
    refuse_private_url,
)
from authentication.teams import default_team
from monitoring.choices import ConfigEvent, NotificationType
from monitoring.models import (
    NotificationConfig,
    NotificationDelivery,
)
from monitoring.models.notifications import default_events
from monitoring.validators import (
    KEY_TYPES,
    SERVICE_BASE_URLS,
    SIGNING_SECRET_TYPES,
    apprise_host_url,
    notification_errors,
)

#: Types whose recipient is a URL, often with a token in it (Slack's and Discord's are secrets).
URL_RECIPIENTS = {
    NotificationType.WEBHOOK,
    NotificationType.DISCORD,
    NotificationType.SLACK,
    NotificationType.MSTEAMS,
}
MIN_SIGNING_SECRET = 16


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


#: Part two's switches, still read and written (SPEC §18 names ``events``): each is "is this
#: event in ``events``?"; ``notify_on_failure`` also stood for certificate alerts.
SWITCHES = {
    "notify_on_failure": (ConfigEvent.DOWN, ConfigEvent.CERTIFICATE),
    "notify_on_recovery": (ConfigEvent.RECOVERY,),
    "notify_on_degraded": (ConfigEvent.DEGRADED,),
}


@extend_schema_field(OpenApiTypes.INT)
class SingleServerField(OwnedServerField):
    """Part two's one ``server`` of a config (write-only; no model field of that name any more)."""


class NotificationConfigSerializer(FormBooleansMixin, serializers.ModelSerializer):
    """A team's alert destination and the servers it serves (SPEC §18).

    ``secret`` is write-only: generated when not given, and shown once, in the create response.
    ``server`` (write-only, create only) is part two's single server: it means ``servers: [server]``
    and, with no ``team``, the server's team. The ``notify_on_*`` switches are views of ``events``.
    """

    team = TeamField()
    servers = OwnedServerField(many=True, required=False, help_text="Ids of the team's servers it alerts for.")
    server = SingleServerField(
        write_only=True, required=False, help_text="On create: one server, as part two took it (means servers: [id])."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=ConfigEvent.choices),
        required=False,
        max_length=len(ConfigEvent.choices),
        help_text="What it hears of; default every event but reminder.",
    )
    notify_on_failure = serializers.BooleanField(required=False, help_text="Whether events has down (and certificate).")
    notify_on_recovery = serializers.BooleanField(required=False, help_text="Whether events has recovery.")
    notify_on_degraded = serializers.BooleanField(required=False, help_text="Whether events has degraded.")
    # Not write_only: the create (and rotate) response does show it, and the schema must say
    # so; to_representation leaves it out of every other response.
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=128,
        help_text=(
            "Webhook signing key (at least 16 characters; generated when not given), or the service's "
            "credential (bot token, routing key, API key, access token); shown only in the create response."
        ),
    )

    class Meta:
        model = NotificationConfig
        fields = [
            "id",
            "team",
            "servers",
            "server",
            "is_default",
            "notification_type",
            "recipient",
            "enabled",
            "events",
            "notify_on_failure",
            "notify_on_recovery",
            "notify_on_degraded",
            "cooldown_minutes",
            "secret",
            "api_base_url",
            "title_template",
            "body_template",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        extra_kwargs = {
            "api_base_url": {"help_text": "The service's root URL (SPEC §18); empty: the type's default."},
            "title_template": {"help_text": "Placeholders {server.name} {server.url} {status} … ; {{ }} are braces."},
            "body_template": {"help_text": "Replaces the message (a webhook's `message`); same placeholders."},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        kind = attrs.get("notification_type", getattr(instance, "notification_type", None))
        if kind is None:
            return attrs  # the field's own "required" error says it
        # Another type: the old type's default root would be wrong for the new one.
        if (
            instance is not None
            and "notification_type" in attrs
            and "api_base_url" not in attrs
            and instance.api_base_url == SERVICE_BASE_URLS.get(instance.notification_type, "")
        ):
            attrs["api_base_url"] = ""
        current = {
            name: attrs.get(name, getattr(instance, name, ""))
            for name in ("recipient", "secret", "api_base_url", "title_template", "body_template")
        }
        if "recipient" in attrs:
            attrs["recipient"] = current["recipient"] = current["recipient"].strip()
        errors: dict[str, Any] = {}
        if kind in SIGNING_SECRET_TYPES:
            errors |= self._signing_type_errors(kind, attrs, current)
        errors = notification_errors(kind, **current) | errors
        if not errors:
            errors = self._private_address_errors(kind, current)
        if errors:
            raise serializers.ValidationError({k: v if isinstance(v, list) else [v] for k, v in errors.items()})
        self._team_and_servers(attrs)
        self._events(attrs)
        return attrs

    def _signing_type_errors(self, kind: str, attrs: dict[str, Any], current: dict[str, str]) -> dict[str, Any]:
        """The types of SPEC §7: a signing secret of 16 characters or more, and their recipient."""
        errors: dict[str, Any] = {}
        secret = attrs.get("secret")
        if secret and len(secret) < MIN_SIGNING_SECRET:
            errors["secret"] = [f"Ensure this field has at least {MIN_SIGNING_SECRET} characters."]
        # Checked whenever either changes, so a PATCH of only the type cannot leave a mismatch.
        if "recipient" in attrs or "notification_type" in attrs:
            if not current["recipient"]:
                errors["recipient"] = ["This field is required."]
                return errors
            try:
                attrs["recipient"] = validate_recipient(kind, current["recipient"])
            except (serializers.ValidationError, DjangoValidationError) as exc:
                errors["recipient"] = exc.detail if isinstance(exc, serializers.ValidationError) else exc.messages
        return errors

    def _private_address_errors(self, kind: str, current: dict[str, str]) -> dict[str, Any]:
        """A Teams webhook, a self-hosted Apprise receiver or a service root on a private address (SPEC §18)."""
        urls = {"api_base_url": current["api_base_url"]}
        if kind == NotificationType.MSTEAMS:
            urls["recipient"] = current["recipient"]
        elif kind == NotificationType.APPRISE:
            urls["recipient"] = apprise_host_url(current["recipient"]) or ""
        errors: dict[str, Any] = {}
        for name, url in urls.items():
            if url:
                try:
                    refuse_private_url(url)
                except serializers.ValidationError as exc:
                    errors[name] = exc.detail
        return errors

    def _team_and_servers(self, attrs: dict[str, Any]) -> None:
        """The config's team (a new one: ``team``, else ``server``'s, else the first of ``servers``',
        else the caller's default team) and the rule that every server is of it."""
        server = attrs.pop("server", None)
        if server is not None:
            if self.instance is not None:
                raise serializers.ValidationError({"server": ["Only on create; change servers instead."]})
            attrs["servers"] = [server, *[s for s in attrs.get("servers", []) if s.pk != server.pk]]
        servers = attrs.get("servers")
        if self.instance is not None:
            team_id = self.instance.team_id
        else:
            team = attrs.get("team")
            if team is None and servers:
                team = servers[0].team
            if team is None:
                team = self.context.get("team") or default_team(self.context["request"].user)
            if team is None:
                raise serializers.ValidationError({"team": ["Name a team for the config."]})
            attrs["team"] = team
            team_id = team.pk
        strangers = sorted(s.pk for s in servers or [] if s.team_id != team_id)
        if strangers:
            field = "server" if server is not None and server.pk in strangers else "servers"
            ids = ", ".join(map(str, strangers))
            raise serializers.ValidationError({field: [f"Servers {ids} are not in the config's team."]})

    def _events(self, attrs: dict[str, Any]) -> None:
        """``events`` deduplicated in their canonical order, with any ``notify_on_*`` switch applied."""
        if "events" in attrs:
            events = set(attrs["events"])
        elif self.instance is not None:
            events = set(self.instance.events)
        else:
            events = set(default_events())
        switched = False
        for name, members in SWITCHES.items():
            if name in attrs:
                switched = True
                events = events | set(members) if attrs.pop(name) else events - set(members)
        if "events" in attrs or switched:
            attrs["events"] = [event for event in ConfigEvent.values if event in events]

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
        for name, members in SWITCHES.items():
            data[name] = members[0] in instance.events
        if instance.notification_type in URL_RECIPIENTS | {NotificationType.APPRISE} and reads_only(
            self, instance.team_id
        ):
            # A viewer sees where alerts go, not the webhook URL's token (SPEC §17). An Apprise
            # URL's "host" may itself be a token (tgram://<bot token>/…): only its scheme shows.
            parts = urlsplit(data["recipient"])
            host = parts.hostname if instance.notification_type in URL_RECIPIENTS else ""
            data["recipient"] = f"{parts.scheme}://{host}/{REDACTED}" if host else f"{parts.scheme}://{REDACTED}"
        if instance.notification_type in KEY_TYPES and not instance.secret and reads_only(self, instance.team_id):
            data["recipient"] = REDACTED  # the key itself, given as recipient
        return data


class NotificationDeliverySerializer(serializers.ModelSerializer):
    server = serializers.SerializerMethodField(help_text="The server it is about (null for a test).")
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

    def get_server(self, delivery: NotificationDelivery) -> int | None:
        if delivery.change_id is not None:
            return delivery.change.server_id
        if delivery.certificate_check_id is not None:
            return delivery.certificate_check.server_id
        return None


class SendTestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    delivery = serializers.IntegerField()
