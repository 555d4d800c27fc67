"""Servers as the API reads and writes them (SPEC §4, §10, §11), and the parameters of check-now and pushes."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import reverse
from rest_framework import serializers

from api.serializers.escalation import TeamPolicyField
from api.serializers.fields import (
    MAX_ID,
    REDACTED,
    FormBooleansMixin,
    OwnedConfigField,
    OwnedServerField,
    TagsField,
    TeamField,
    private_address_message,
    reads_only,
    target_team_id,
)
from api.serializers.rows import RowPages, Rows
from core.links import absolute_url
from monitoring.choices import Protocol
from monitoring.models import Server
from monitoring.models.servers import dependency_cycle
from monitoring.services import net
from monitoring.services.engine import checks, push
from monitoring.services.engine.push import MAX_MESSAGE
from monitoring.services.locations import servers as server_locations
from monitoring.validators import (
    DSN_PROTOCOLS,
    PROTOCOL_FIELDS,
    default_timeout,
    normalize_host,
    parse_dsn,
    protocol_field_errors,
    server_errors,
)

MAX_LOCATIONS = 50


class LocationsField(serializers.ListField):
    """``locations``: slugs of the places it is checked from, in order (SPEC §20; default
    ``[PROBE_LOCATION]``). Each must be shared or of the server's team (``ServerSerializer.validate``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", "Slugs of the locations it is checked from, in order (default: [PROBE_LOCATION])."
        )
        super().__init__(child=serializers.SlugField(max_length=50), allow_empty=False, source="*", **kwargs)

    def get_attribute(self, instance: Server) -> list[str]:
        return server_locations.slugs(instance)

    def values_of(self, pks: list[int]) -> dict[int, list[str]]:
        """``get_attribute`` for a page of servers, in one query (``api.serializers.rows``)."""
        return server_locations.slugs_of(pks)

    def to_representation(self, data: Any) -> list[str]:
        return list(data)

    def to_internal_value(self, data: Any) -> dict[str, list[str]]:
        slugs = super().to_internal_value(data)
        if len(slugs) > MAX_LOCATIONS:
            raise serializers.ValidationError(f"At most {MAX_LOCATIONS} locations.")
        if len(set(slugs)) != len(slugs):
            raise serializers.ValidationError("Name each location once.")
        return {"locations": slugs}


class ServerSerializer(FormBooleansMixin, serializers.ModelSerializer):
    owner = serializers.ReadOnlyField(source="owner.username", default=None)
    team = TeamField()
    url = serializers.ReadOnlyField()
    uptime_percentage = serializers.ReadOnlyField(source="server_status.uptime_percentage")
    last_check = serializers.ReadOnlyField(source="server_status.last_check")
    status_message = serializers.ReadOnlyField(source="server_status.message")
    tags = TagsField()
    push_token = serializers.ReadOnlyField(help_text="Push monitors only: the secret part of the push URL.")
    push_url = serializers.SerializerMethodField(help_text="Push monitors only: the URL their job calls.")
    notification_configs = OwnedConfigField(
        many=True,
        required=False,
        help_text="Ids of the team's notification configs its alerts go to; left out on create: the team's defaults.",
    )
    escalation_policy = TeamPolicyField(
        required=False, allow_null=True, help_text="An escalation policy of the server's team (SPEC §18), or null."
    )
    depends_on = OwnedServerField(
        many=True,
        required=False,
        help_text="Ids of the team's servers this one depends on: while one is DOWN, its DOWN alerts are suppressed.",
    )
    locations = LocationsField()
    quorum = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_LOCATIONS,
        help_text="DOWN once this many of its locations are DOWN; null: more than half of them.",
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
            "notification_configs",
            "escalation_policy",
            "depends_on",
            "locations",
            "quorum",
            "owner",
            "team",
            "method",
            "expected_status_codes",
            "keyword",
            "verify_tls",
            "retries",
            "degraded_threshold_ms",
            "request_headers",
            "request_body",
            "basic_auth_username",
            "basic_auth_password",
            "keyword_absent",
            "max_redirects",
            "assertions",
            "ping_count",
            "packet_loss_threshold",
            "dns_record_type",
            "dns_resolver",
            "dns_expected",
            "smtp_starttls",
            "dsn",
            "db_query",
            "grpc_service",
            "grpc_tls",
            "ws_send",
            "ws_tls",
            "tcp_send",
            "tcp_expect",
            "cert_expiry_alert_days",
            "is_active",
            "badge_key",
            "grace_seconds",
            "schedule",
            "schedule_timezone",
            "push_deadline_at",
            "push_token",
            "push_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "badge_key", "push_deadline_at", "created_at", "updated_at"]
        extra_kwargs = {
            # Sent with every check; never in a response (SPEC §10).
            "basic_auth_password": {"write_only": True, "style": {"input_type": "password"}},
            # Holds the database's credentials: write-only like the password (SPEC §19).
            "dsn": {"write_only": True, "style": {"input_type": "password"}},
        }

    def to_representation(self, instance: Server) -> dict[str, Any]:
        return self._redacted(super().to_representation(instance), instance.team_id)

    def pages(self, queryset: QuerySet[Server]) -> RowPages:
        """A list's servers (``queryset``, filtered and ordered) for its paginator: each page read
        as rows (``api.serializers.rows``), every server as ``to_representation`` shows it."""
        return RowPages(queryset, Rows(self, instances=True), lambda server, data: self._redacted(data, server.team_id))

    def _redacted(self, data: dict[str, Any], team_id: int) -> dict[str, Any]:
        hidden = data.get("push_url") or data.get("request_headers")
        if hidden and reads_only(self, team_id):  # a viewer: no push URL, no header values (tokens)
            data["push_token"] = data["push_url"] = None
            if data.get("request_headers"):
                data["request_headers"] = dict.fromkeys(data["request_headers"], REDACTED)
        return data

    def get_push_url(self, obj: Server) -> str | None:
        """Absolute (``core.links.absolute_url``)."""
        if not obj.is_push or not obj.push_token:
            return None
        # Config export and the commands pass a stand-in request that only carries the user.
        return absolute_url(reverse("push", kwargs={"token": obj.push_token}), self.context.get("request"))

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """A push server is never probed: a ``timeout`` sent for one is ignored, whatever it is (SPEC §23)."""
        if isinstance(data, Mapping) and "timeout" in data:
            protocol = data.get("protocol", self.instance.protocol if self.instance is not None else None)
            if protocol == Protocol.PUSH:
                data = data.copy()
                data.pop("timeout")
        return super().to_internal_value(data)

    def validate_host(self, value: str) -> str:
        if not value.strip():
            return ""  # only push servers may have none (validate)
        try:
            host = normalize_host(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        # An IP literal can be judged now; hostnames are resolved and judged at each check.
        with contextlib.suppress(ValueError):
            if not settings.MONITOR_ALLOW_PRIVATE_TARGETS and net.is_private(ipaddress.ip_address(host)):
                raise serializers.ValidationError(private_address_message(host))
        return host

    def validate_expected_status_codes(self, value: str) -> str:
        return value.replace(" ", "")

    def validate_path(self, value: str) -> str:
        path = value if value.startswith("/") else f"/{value}"
        limit = Server._meta.get_field("path").max_length
        if limit is not None and len(path) > limit:  # the slash we add must fit the column too
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters, with its leading /."
            )
        return path

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str) -> Any:
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                return getattr(self.instance, name)
            return Server._meta.get_field(name).get_default()

        # A form's or multipart body's "null" parses to None inside a JSON field, past DRF's own
        # null check; the columns are NOT NULL, so it must be a field error, not a 500.
        nulls = {
            name: ["This field may not be null."]
            for name, field in self.fields.items()
            if isinstance(field, serializers.JSONField) and name in attrs and attrs[name] is None
        }
        if nulls:
            raise serializers.ValidationError(nulls)
        if self.instance is None and "timeout" not in attrs:
            attrs["timeout"] = default_timeout(current("check_interval"))
        errors: dict[str, Any] = {}
        protocol = current("protocol")
        if protocol in DSN_PROTOCOLS and current("dsn"):
            # Host and port are read-only for these kinds: the dsn's, whatever was sent.
            try:
                attrs["host"], attrs["port"] = self._dsn_address(protocol, current("dsn"))
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"dsn": exc.detail}) from exc
        elif protocol in DSN_PROTOCOLS and not current("host"):
            raise serializers.ValidationError({"dsn": [f"A {protocol} server needs a dsn (a URL with its host)."]})
        errors.update(
            server_errors(
                protocol=current("protocol"),
                port=current("port"),
                timeout=current("timeout"),
                check_interval=current("check_interval"),
                host=current("host"),
                schedule=current("schedule"),
            )
        )
        errors.update(protocol_field_errors(protocol, {name: current(name) for name in PROTOCOL_FIELDS}))
        errors.update(self._location_errors(attrs))
        if "depends_on" in attrs:
            cycle = dependency_cycle(self.instance, target_team_id(self), [s.pk for s in attrs["depends_on"]])
            if cycle:
                errors["depends_on"] = cycle
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _location_errors(self, attrs: dict[str, Any]) -> dict[str, list[str]]:
        """Resolve ``locations`` (slugs) to the locations the server's team may use, in order, and
        check ``quorum`` against their number; the errors by field."""
        errors: dict[str, list[str]] = {}
        if "locations" in attrs:
            slugs = attrs["locations"]
            # Read once per team for a whole import (its serializers share the context).
            team_id = target_team_id(self)
            known = self.context.setdefault("usable_locations", {})
            if team_id not in known:
                known[team_id] = {loc.slug: loc for loc in server_locations.usable_by(team_id)}
            usable = known[team_id]
            unknown = [slug for slug in slugs if slug not in usable]
            if unknown:
                errors["locations"] = [
                    f"No location with the slug {unknown[0]!r} is shared or the server's team's (see /api/locations/)."
                ]
            else:
                attrs["locations"] = [usable[slug] for slug in slugs]
            count = len(slugs)
        elif self.instance is not None:
            count = len(server_locations.slugs(self.instance))
        else:
            count = 1
        quorum = attrs["quorum"] if "quorum" in attrs else getattr(self.instance, "quorum", None)
        if quorum is not None and quorum > count and ("quorum" in attrs or "locations" in attrs):
            errors["quorum"] = [f"At most the number of locations ({count}); null for more than half of them."]
        return errors

    def _dsn_address(self, protocol: str, dsn: str) -> tuple[str, int]:
        """The host and port of a ``dsn``, judged like a host (an IP literal by the private-address guard)."""
        try:
            host, port = parse_dsn(protocol, dsn)
        except (ValueError, DjangoValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, DjangoValidationError) else str(exc)
            raise serializers.ValidationError([f"{message[0].upper()}{message[1:].rstrip('.')}."]) from exc
        return self.validate_host(host), port

    def create(self, validated_data: dict[str, Any]) -> Server:
        configs = validated_data.pop("notification_configs", None)
        depends_on = validated_data.pop("depends_on", None)
        locations = validated_data.pop("locations", None)
        server = Server.objects.create(**validated_data)  # attaches the team's default configs
        if configs is not None:
            server.notification_configs.set(configs)
        if depends_on:
            server.depends_on.set(depends_on)
        if locations:
            server_locations.set_locations(server, locations)
        return server

    def update(self, instance: Server, validated_data: dict[str, Any]) -> Server:
        """An edit goes through ``checks.save_edit``: pausing, resuming and a change of what or how
        often it checks are recorded like every change of status and schedule."""
        configs = validated_data.pop("notification_configs", None)
        if configs is not None:
            instance.notification_configs.set(configs)
        depends_on = validated_data.pop("depends_on", None)
        if depends_on is not None:
            instance.depends_on.set(depends_on)
        locations = validated_data.pop("locations", None)
        changed = {name for name, value in validated_data.items() if getattr(instance, name) != value}
        if locations is not None and server_locations.set_locations(instance, locations):
            changed.add("locations")  # rescheduled: its new locations are due at once
        for name, value in validated_data.items():
            setattr(instance, name, value)
        checks.save_edit(instance, changed)
        instance.refresh_from_db()
        return instance


class RunChecksSerializer(serializers.Serializer):
    server_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=10_000
    )

    def validate_server_ids(self, value: list[int]) -> list[int]:
        unknown = set(value) - set(Server.objects.filter(pk__in=value).values_list("pk", flat=True))
        if unknown:
            raise serializers.ValidationError(f"No server with id {', '.join(map(str, sorted(unknown)))}.")
        return value

    def servers_to_check(self) -> list[int]:
        """The given ids, or every active server's."""
        ids = self.validated_data.get("server_ids")
        return list(Server.objects.active().values_list("pk", flat=True)) if ids is None else ids


class RunChecksResultSerializer(serializers.Serializer):
    checked = serializers.IntegerField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()
    degraded = serializers.IntegerField()


class PushValueField(serializers.FloatField):
    """A push's ``value`` (SPEC §19): a finite number within ±``push.MAX_VALUE``; NaN, infinity,
    1e309 and booleans are refused, "" is none (``push.check_value``)."""

    def to_internal_value(self, data: Any) -> float | None:
        try:
            return push.check_value(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class PushSerializer(serializers.Serializer):
    """The parameters of one push (query string, form or JSON)."""

    status = serializers.ChoiceField(choices=["up", "down"], default="up")
    msg = serializers.CharField(max_length=MAX_MESSAGE, required=False, allow_blank=True, default="")
    ping = serializers.FloatField(min_value=0, max_value=86_400_000, required=False, allow_null=True, default=None)
    value = PushValueField(
        required=False, allow_null=True, default=None, help_text="A number to keep with the result (SPEC §19)."
    )
