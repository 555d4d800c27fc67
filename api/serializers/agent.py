"""The probe agent API's requests and answers (SPEC §20)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from rest_framework import serializers

from monitoring.choices import PingStatus

#: Results in one ``POST /api/agent/results/`` (an agent sends more in several batches).
RESULTS_MAX = 1000
#: Checks one claim may take.
CLAIM_MAX = 500
#: A result's ``detail``, as JSON, at most (a dns check's answers are far less).
DETAIL_MAX_CHARS = 20_000
#: How far in the future an agent's clock may put a check (clocks drift; years are a bug).
FUTURE_SLACK = timedelta(hours=1)
SAFE_ID = RegexValidator(r"^[A-Za-z0-9_-]+$", "Letters, digits, - and _ only.")


def _no_nul(value: Any) -> None:
    """Reject NUL characters anywhere in a JSON value (PostgreSQL stores none)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError("NUL characters are not allowed.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)


class ClaimSerializer(serializers.Serializer):  # type: ignore[type-arg]
    owner = serializers.CharField(max_length=64, validators=[SAFE_ID], help_text="This agent process's lease owner.")
    limit = serializers.IntegerField(min_value=1, max_value=CLAIM_MAX, default=100)
    horizon = serializers.FloatField(
        min_value=0, max_value=60, default=1.0, help_text="Claim checks due within this many seconds."
    )


class LocationRefSerializer(serializers.Serializer):  # type: ignore[type-arg]
    slug = serializers.CharField()
    name = serializers.CharField()


class ClaimedCheckSerializer(serializers.Serializer):  # type: ignore[type-arg]
    server = serializers.DictField(help_text="What to probe: the server's fields (its id, protocol, host, …).")
    due_at = serializers.DateTimeField()
    next_due_at = serializers.DateTimeField(help_text="When the following check is due, if this one runs on time.")
    lease_until = serializers.DateTimeField()


class ClaimAnswerSerializer(serializers.Serializer):  # type: ignore[type-arg]
    location = LocationRefSerializer()
    server_time = serializers.DateTimeField()
    lease_seconds = serializers.FloatField()
    checks = ClaimedCheckSerializer(many=True)


class ResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    key = serializers.CharField(
        min_length=8, max_length=64, validators=[SAFE_ID], help_text="Idempotency key: a result is stored once."
    )
    server_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    checked_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    started_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    next_due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(choices=PingStatus.choices)
    response_time = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1e9)
    status_code = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0, max_value=32767)
    error_message = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, trim_whitespace=False
    )
    value = serializers.FloatField(required=False, allow_null=True, default=None, min_value=-1e300, max_value=1e300)
    detail = serializers.JSONField(required=False, allow_null=True, default=None)
    buffered = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Checked with no live lease (central server unreachable): the schedule moves forward only.",
    )

    def validate_detail(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected an object.")
        _no_nul(value)
        if len(json.dumps(value)) > DETAIL_MAX_CHARS:
            raise serializers.ValidationError(f"At most {DETAIL_MAX_CHARS} characters of JSON.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        latest = timezone.now() + FUTURE_SLACK
        errors = {
            name: "Later than an hour from now: is this agent's clock right?"
            for name in ("checked_at", "due_at", "started_at")
            if attrs.get(name) is not None and attrs[name] > latest
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ResultsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    owner = serializers.CharField(max_length=64, validators=[SAFE_ID])
    results = ResultSerializer(many=True, max_length=RESULTS_MAX, allow_empty=True)


class ResultsAnswerSerializer(serializers.Serializer):  # type: ignore[type-arg]
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    dropped = serializers.IntegerField(
        help_text="Not stored: the lease was lost, or the server is gone from this location."
    )


class HeartbeatSerializer(serializers.Serializer):  # type: ignore[type-arg]
    owner = serializers.CharField(max_length=64, validators=[SAFE_ID], required=False)
    renew = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=CLAIM_MAX * 4,
        required=False,
        default=list,
        help_text="Servers whose leases this owner holds and extends (checks in flight).",
    )
    release = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=CLAIM_MAX * 4,
        required=False,
        default=list,
        help_text="Servers whose unstarted claims this owner gives back (an agent stopping).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs["renew"] or attrs["release"]) and not attrs.get("owner"):
            raise serializers.ValidationError({"owner": "Name the lease owner whose leases to renew or release."})
        return attrs


class HeartbeatAnswerSerializer(serializers.Serializer):  # type: ignore[type-arg]
    location = LocationRefSerializer()
    status = serializers.CharField()
    server_time = serializers.DateTimeField()
    renewed = serializers.IntegerField()
    released = serializers.IntegerField()
