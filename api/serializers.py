"""API representations of the monitoring models, with the validation SPEC §4 asks for."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import empty

from monitoring import payloads
from monitoring.choices import NotificationType, Protocol, Recurrence
from monitoring.models import (
    CertificateCheck,
    Incident,
    MaintenanceWindow,
    NotificationConfig,
    NotificationDelivery,
    PingResult,
    Server,
    ServerStatus,
    StatusPage,
)
from monitoring.models.maintenance import MAX_DURATION_MINUTES
from monitoring.services import net
from monitoring.services.engine import checks
from monitoring.services.engine.push import MAX_MESSAGE
from monitoring.services.history.charts import WINDOWS
from monitoring.validators import (
    HTTP_ONLY_DEFAULTS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    default_timeout,
    http_only_errors,
    normalize_host,
    server_errors,
    validate_tags,
)

MAX_ID = 2**63 - 1  # BigAutoField
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def private_address_message(host: str) -> str:
    """What a server host or a webhook URL aimed at a private or reserved address is told."""
    return (
        f"{host} is a private or reserved address; this installation does not monitor those "
        "(MONITOR_ALLOW_PRIVATE_TARGETS=false)."
    )


def refuse_private_url(url: str) -> None:
    """Refuse a webhook URL whose host is, or resolves to, a private or reserved address.

    The guard refuses it again at every send (a name may change what it resolves to); this
    answers at creation instead of letting the config fail at its first alert. A name that
    does not resolve yet is left to the send-time guard.
    """
    if settings.MONITOR_ALLOW_PRIVATE_TARGETS:
        return
    host = urlsplit(url).hostname or ""
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        if net.is_private(literal):
            raise serializers.ValidationError(private_address_message(host))
        return
    try:
        net.resolve(host, 443)
    except net.PrivateAddressError:
        raise serializers.ValidationError(private_address_message(host)) from None
    except OSError:
        pass



class FormBooleansMixin:
    """An HTML form (the browsable API) sends no value for an unticked checkbox; DRF reads that
    as ``False``, which created servers paused with alerts and TLS checks off. Here an omitted
    boolean takes the model default instead, as in JSON (an explicit ``false`` still counts)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()  # type: ignore[misc]
        for field in fields.values():
            if isinstance(field, serializers.BooleanField):
                field.default_empty_html = empty
        return fields


class TagsField(serializers.ListField):
    """The tags of a server, a status page or a maintenance window: tokens, deduplicated in order.

    The model's ``validate_tags`` is the rule; the child field turns a null or a nested value
    into a per-item error first."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(
            child=serializers.CharField(max_length=MAX_TAG_LENGTH),
            max_length=MAX_TAGS,
            validators=[validate_tags],
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[str]:
        return list(dict.fromkeys(super().to_internal_value(data)))


class OwnedServerField(serializers.PrimaryKeyRelatedField):
    """Ids of servers that belong to the owner of the object being written.

    The owner is the requesting user for a new object, and the object's owner for an edit (so
    staff editing a user's window pick among that user's servers, never their own). Any other
    id, another user's or one that does not exist, gets the same "does not exist" error: an id
    tells nobody whether another account has it."""

    def get_queryset(self) -> Any:
        return Server.objects.filter(owner_id=self.owner_id())

    def owner_id(self) -> int:
        instance = self.root.instance
        if isinstance(instance, NotificationConfig):
            return instance.server.owner_id
        if isinstance(instance, (StatusPage, MaintenanceWindow)):
            return instance.owner_id
        return self.context["request"].user.pk


class ServerSerializer(FormBooleansMixin, serializers.ModelSerializer):
    owner = serializers.ReadOnlyField(source="owner.username")
    url = serializers.ReadOnlyField()
    uptime_percentage = serializers.ReadOnlyField(source="server_status.uptime_percentage")
    last_check = serializers.ReadOnlyField(source="server_status.last_check")
    status_message = serializers.ReadOnlyField(source="server_status.message")
    tags = TagsField()
    push_token = serializers.ReadOnlyField(help_text="Push monitors only: the secret part of the push URL.")
    push_url = serializers.SerializerMethodField(help_text="Push monitors only: the URL their job calls.")

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
            "request_headers",
            "request_body",
            "basic_auth_username",
            "basic_auth_password",
            "keyword_absent",
            "max_redirects",
            "assertions",
            "cert_expiry_alert_days",
            "is_active",
            "badge_key",
            "grace_seconds",
            "push_token",
            "push_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "badge_key", "created_at", "updated_at"]
        extra_kwargs = {
            # Sent with every check; never in a response (SPEC §10).
            "basic_auth_password": {"write_only": True, "style": {"input_type": "password"}},
        }

    def get_push_url(self, obj: Server) -> str | None:
        """Absolute: from the request when there is one, else from PUBLIC_BASE_URL."""
        if not obj.is_push or not obj.push_token:
            return None
        path = reverse("push", kwargs={"token": obj.push_token})
        request = self.context.get("request")
        # Config export and the commands pass a stand-in request that only carries the user.
        if request is not None and hasattr(request, "build_absolute_uri"):
            return request.build_absolute_uri(path)
        return f"{settings.PUBLIC_BASE_URL}{path}"

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
        errors = server_errors(
            protocol=current("protocol"),
            port=current("port"),
            timeout=current("timeout"),
            check_interval=current("check_interval"),
            host=current("host"),
        )
        errors.update(http_only_errors(current("protocol"), {name: current(name) for name in HTTP_ONLY_DEFAULTS}))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Server:
        return Server.objects.create(**validated_data)

    def update(self, instance: Server, validated_data: dict[str, Any]) -> Server:
        """An edit goes through ``checks.save_edit``: pausing, resuming and a change of what or how
        often it checks are recorded like every change of status and schedule."""
        changed = {name for name, value in validated_data.items() if getattr(instance, name) != value}
        for name, value in validated_data.items():
            setattr(instance, name, value)
        checks.save_edit(instance, changed)
        instance.refresh_from_db()
        return instance


class PingResultSerializer(serializers.ModelSerializer):
    """Renders with ``payloads.ping_payload``, the live feeds' shape; Meta describes it for the schema."""

    def to_representation(self, instance: PingResult) -> dict[str, Any]:
        return dict(payloads.ping_payload(instance))

    class Meta:
        model = PingResult
        fields = [
            "id",
            "server",
            "status",
            "response_time",
            "status_code",
            "error_message",
            "check_timestamp",
            "maintenance",
        ]
        read_only_fields = fields


class ServerStatusSerializer(serializers.ModelSerializer):
    """Renders with ``payloads.status_payload``, the live feeds' shape; Meta describes it for the schema."""

    server_name = serializers.ReadOnlyField(source="server.name")

    def to_representation(self, instance: ServerStatus) -> dict[str, Any]:
        return dict(payloads.status_payload(instance))

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


class IncidentSerializer(serializers.ModelSerializer):
    server_name = serializers.ReadOnlyField(source="server.name")
    is_open = serializers.ReadOnlyField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "server",
            "server_name",
            "started_at",
            "ended_at",
            "is_open",
            "first_error",
            "duration_seconds",
            "opening_change",
            "closing_change",
        ]
        read_only_fields = fields


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


class UptimeQuerySerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS), default="24h")


class HistoryBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    checks = serializers.IntegerField()
    failures = serializers.IntegerField()
    maintenance = serializers.IntegerField()
    uptime_percentage = serializers.FloatField(allow_null=True)
    response_time_avg = serializers.FloatField(allow_null=True)
    response_time_p95 = serializers.FloatField(allow_null=True)
    response_time_max = serializers.FloatField(allow_null=True)


class HistorySerializer(serializers.Serializer):
    window = serializers.CharField()
    bucket_seconds = serializers.IntegerField()
    buckets = HistoryBucketSerializer(many=True)


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


class StatusPageSerializer(FormBooleansMixin, serializers.ModelSerializer):
    servers = OwnedServerField(many=True, required=False)
    tags = TagsField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "slug",
            "title",
            "description",
            "servers",
            "tags",
            "is_public",
            "show_response_times",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_url(self, page: StatusPage) -> str:
        return f"/status/{page.slug}/"


class PushSerializer(serializers.Serializer):
    """The parameters of one push (query string, form or JSON)."""

    status = serializers.ChoiceField(choices=["up", "down"], default="up")
    msg = serializers.CharField(max_length=MAX_MESSAGE, required=False, allow_blank=True, default="")
    ping = serializers.FloatField(min_value=0, max_value=86_400_000, required=False, allow_null=True, default=None)


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    """A one-off window (``starts_at``/``ends_at``) or a recurring one (``recurrence`` …), not both."""

    owner = serializers.ReadOnlyField(source="owner.username")
    servers = OwnedServerField(many=True, required=False)
    tags = TagsField()
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False, max_length=7
    )
    start_time = serializers.TimeField(
        format="%H:%M", input_formats=["%H:%M"], required=False, allow_null=True, help_text="Local time, HH:MM."
    )
    duration_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_DURATION_MINUTES, required=False, allow_null=True
    )
    timezone = serializers.CharField(max_length=64, required=False, default="UTC", help_text="IANA name.")
    active = serializers.SerializerMethodField()
    next_start = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "name",
            "owner",
            "servers",
            "tags",
            "enabled",
            "starts_at",
            "ends_at",
            "recurrence",
            "weekdays",
            "start_time",
            "duration_minutes",
            "timezone",
            "active",
            "next_start",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_active(self, obj: MaintenanceWindow) -> bool:
        return obj.is_active_at(timezone.now())

    def get_next_start(self, obj: MaintenanceWindow) -> str | None:
        return payloads.iso(obj.next_start(timezone.now()))

    def validate_timezone(self, value: str) -> str:
        value = value.strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).") from exc
        return value

    def validate_weekdays(self, value: list[int]) -> list[int]:
        return sorted(set(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str) -> Any:
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                value = getattr(self.instance, name)
                return list(value.all()) if name == "servers" else value
            return MaintenanceWindow._meta.get_field(name).get_default()

        one_off = current("starts_at") is not None or current("ends_at") is not None
        recurring = bool(current("recurrence"))
        errors: dict[str, str] = {}
        if one_off and recurring:
            errors["recurrence"] = "Give either a start and an end, or a repetition, not both."
        elif one_off:
            if current("starts_at") is None or current("ends_at") is None:
                missing = "ends_at" if current("ends_at") is None else "starts_at"
                errors[missing] = "A one-off window needs both a start and an end."
            elif current("ends_at") <= current("starts_at"):
                errors["ends_at"] = "The end must be after the start."
        elif recurring:
            if current("start_time") is None:
                errors["start_time"] = "A repeating window needs a start time (HH:MM)."
            if not current("duration_minutes"):
                errors["duration_minutes"] = "A repeating window needs a duration in minutes."
            if current("recurrence") == Recurrence.WEEKLY and not current("weekdays"):
                errors["weekdays"] = "A weekly window needs at least one weekday (0 = Monday … 6 = Sunday)."
            if current("recurrence") == Recurrence.DAILY and current("weekdays"):
                errors["weekdays"] = "Weekdays are for weekly windows only."
        else:
            errors["non_field_errors"] = (
                "A window needs either a start and an end, or a repetition (daily or weekly) "
                "with a start time and a duration."
            )
        if not current("servers") and not current("tags"):
            errors.setdefault("servers", "Give servers and/or tags for the window to cover.")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs
