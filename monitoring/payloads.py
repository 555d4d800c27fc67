"""The JSON shapes of results and statuses, as plain functions of the models (STYLE "payloads").

One definition for every consumer: the REST API's serializers render with these, and the live
feeds (``services.live.publish``, ``services.live.feeds``) build their events with them without DRF, so the
services never import the API layer and a check's event costs a few dict lookups.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.utils import timezone

from monitoring.models import PingResult, ServerStatus
from monitoring.models.locations import location_slug


class PingPayload(TypedDict):
    """A PingResult in the API (``/api/ping-results/``) and the live feeds."""

    id: int
    server: int
    status: str
    response_time: float | None
    status_code: int | None
    error_message: str
    check_timestamp: str | None
    #: Taken in a maintenance window: shown, but not counted in uptime (SPEC §12).
    maintenance: bool
    #: ``check``, or a push's ``log``, which counts nowhere (SPEC §19).
    kind: str
    #: The first 10 KiB of a push's POST body, as text ("" for everything else).
    body: str
    #: The number a push sent with it (SPEC §19), or None.
    value: float | None
    #: The slug of the probe location it was checked from (SPEC §20).
    location: str
    #: What the check saw beyond its status (a dns check's ``{"rcode", "answers"}``), or null.
    detail: dict[str, Any] | None


class StatusPayload(TypedDict):
    """A ServerStatus in the API (``/api/server-status/``) and the live feeds."""

    id: int
    server: int
    server_name: str
    status: str
    uptime_percentage: float | None
    last_check: str | None
    last_response_time: float | None
    consecutive_failures: int
    message: str
    last_status_change: str | None


def iso(value: datetime | None) -> str | None:
    """A time as DRF renders it: ISO 8601 in the current time zone, UTC as ``Z``."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def isos(values: Iterable[datetime]) -> list[str]:
    """``iso`` of many aware times: in UTC (the usual current time zone) one ``isoformat`` each
    without the time zone machinery of ``localtime`` (a 30-day chart's 720 bucket starts)."""
    if timezone.get_current_timezone_name() != "UTC":
        return [iso(value) or "" for value in values]
    return [value.astimezone(UTC).isoformat()[:-6] + "Z" for value in values]


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def ping_payload(ping: PingResult) -> PingPayload:
    return {
        "id": ping.pk,
        "server": ping.server_id,
        "status": ping.status,
        "response_time": _float(ping.response_time),
        "status_code": ping.status_code,
        "error_message": ping.error_message,
        "check_timestamp": iso(ping.check_timestamp),
        "maintenance": ping.maintenance,
        "kind": ping.kind,
        "body": ping.body,
        "value": ping.value,
        "detail": ping.detail,
        "location": location_slug(ping.location_id),
    }


#: What ``status_payload`` reads of a ServerStatus and its server, for ``.only()``: a list of
#: statuses need not read the servers' ~60 columns (``/api/server-status/``).
STATUS_FIELDS = (
    "server",
    "server__name",
    "status",
    "uptime_percentage",
    "last_check",
    "last_response_time",
    "consecutive_failures",
    "message",
    "last_status_change",
)


def status_payload(state: ServerStatus) -> StatusPayload:
    """``state.server`` is read for the name: callers with many states ``select_related`` it."""
    return {
        "id": state.pk,
        "server": state.server_id,
        "server_name": state.server.name,
        "status": state.status,
        "uptime_percentage": _float(state.uptime_percentage),
        "last_check": iso(state.last_check),
        "last_response_time": _float(state.last_response_time),
        "consecutive_failures": state.consecutive_failures,
        "message": state.message,
        "last_status_change": iso(state.last_status_change),
    }
