"""Push (heartbeat) monitors: a push is a result like a probe's (SPEC §11).

``record_push()`` turns one call of a push URL into a ``ProbeOutcome`` and records it as a
batch of one through ``services.engine.recording`` — the same state machine, alerts and live feeds
as a probe — moving the server's push deadline in that same short transaction. Missed
deadlines are the scheduler's push step (``tasks.push``).

Healthchecks-style signals (SPEC §19): ``record_start`` notes that a run began (the next push
records its duration from then as its response time), ``exit_status`` turns a job's exit status
into up or down, and ``record_log`` keeps a ``log`` result that counts nowhere: no status,
uptime, retries, history or alerts, and no deadline moved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from monitoring import assertions
from monitoring.choices import PingKind, PingStatus
from monitoring.models import PingResult, Server
from monitoring.models.servers import new_push_token
from monitoring.services.engine.recording import CheckRecord, CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome

MAX_MESSAGE = 500
MAX_BODY = 10 * 1024  # bytes of a push's POST body kept with its result
MAX_VALUE = 1e15  # a pushed value's magnitude: beyond it is a mistake (or an attempt), not a reading


def body_text(raw: bytes) -> str:
    """The first MAX_BODY bytes of a POST body as text (a character cut in two, or bytes that are
    not UTF-8, become U+FFFD; NUL, which PostgreSQL refuses in text, too)."""
    return raw[:MAX_BODY].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def exit_status(code: int) -> tuple[bool, str]:
    """(up, message) for a job's exit status: 0 is a success, 1–255 a failure; ValueError outside."""
    if not 0 <= code <= 255:
        raise ValueError("An exit status is 0 to 255.")
    return code == 0, "" if code == 0 else f"exit status {code}"


def push_outcome(
    *, up: bool, msg: str = "", ping: float | None = None, value: float | None = None, rules: object = None
) -> ProbeOutcome:
    """``success`` for up, ``failure`` (with ``msg`` as the error) for down; ``ping`` is the response
    time, ``value`` the number it carried. An up push whose ``value`` breaks one of the server's
    assertions (``rules``, SPEC §19) is a failure that names the assertion."""
    if up:
        failed = _value_failure(rules, value)
        if failed is None:
            return ProbeOutcome(PingStatus.SUCCESS, response_time=ping, value=value)
        return ProbeOutcome(PingStatus.FAILURE, response_time=ping, error_message=failed, value=value)
    message = msg[:MAX_MESSAGE] or "pushed down"
    return ProbeOutcome(PingStatus.FAILURE, response_time=ping, error_message=message, value=value)


def _value_failure(rules: object, value: float | None) -> str | None:
    if not rules:
        return None
    try:
        parsed = assertions.parse(rules)
    except assertions.AssertionSpecError as exc:  # saved before validation existed, or by raw SQL
        return f"invalid assertions: {exc}"
    return assertions.evaluate_value(parsed, value)


def check_value(value: object) -> float | None:
    """A push's ``value`` as a float; ValueError for what is not a finite number within ±MAX_VALUE
    (NaN, infinity, 1e309, a boolean, text that is not a number)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("A value is a number.")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError("A value is a number.") from None
    if not math.isfinite(number) or abs(number) > MAX_VALUE:
        raise ValueError(f"A value is a finite number from -{MAX_VALUE:g} to {MAX_VALUE:g}.")
    return number


def record_push(
    server: Server,
    *,
    up: bool = True,
    msg: str = "",
    ping: float | None = None,
    value: float | None = None,
    now: datetime | None = None,
    body: str = "",
) -> CheckRecord | None:
    """Record one push at ``now``, moving the deadline on (``Server.next_push_deadline``); None
    when the server was deleted meanwhile.

    Without a ``ping``, a run begun by ``/start`` (``server.push_started_at``) reports the
    milliseconds since as its response time; either way the run is over (``recording``)."""
    now = now or timezone.now()
    records = record([push_result(server, up=up, msg=msg, ping=ping, value=value, now=now, body=body)])
    return records[0] if records else None


def push_result(
    server: Server,
    *,
    up: bool = True,
    msg: str = "",
    ping: float | None = None,
    value: float | None = None,
    now: datetime,
    body: str = "",
) -> CheckResult:
    """The ``CheckResult`` of one push at ``now``, for ``record`` (one push, or a batch of them)."""
    if ping is None and server.push_started_at is not None and server.push_started_at <= now:
        ping = (now - server.push_started_at).total_seconds() * 1000
    outcome = push_outcome(up=up, msg=msg, ping=ping, value=value, rules=server.assertions)
    return CheckResult(server, outcome, now, push_deadline_at=server.next_push_deadline(now), body=body)


@dataclass(frozen=True)
class Push:
    """One push of a batch (``POST /api/push/``, SPEC §19), its parameters checked already."""

    server: Server
    up: bool = True
    msg: str = ""
    ping: float | None = None
    value: float | None = None


def record_pushes(pushes: Sequence[Push], now: datetime | None = None) -> int:
    """Record a batch of pushes at ``now`` in one ``record`` (one transaction, one publish), in
    order, as recording them one by one would; how many were recorded (a deleted server's are not).

    A run begun by ``/start`` ends with its server's first push of the batch: the later ones
    carry only their own ``ping``."""
    now = now or timezone.now()
    results = []
    for p in pushes:
        results.append(push_result(p.server, up=p.up, msg=p.msg, ping=p.ping, value=p.value, now=now))
        p.server.push_started_at = None
    return len(record(results))


def record_start(server: Server, *, now: datetime | None = None) -> None:
    """A run began at ``now``: stored on the server only; status and deadline stay as they are."""
    now = now or timezone.now()
    Server.objects.filter(pk=server.pk).update(push_started_at=now)
    server.push_started_at = now


def record_log(server: Server, *, msg: str = "", body: str = "", now: datetime | None = None) -> PingResult | None:
    """Keep a ``log`` result (a message and the body) that counts nowhere; None when the server
    was deleted meanwhile (its row is locked so that a delete waits or has happened)."""
    now = now or timezone.now()
    with transaction.atomic():
        if not Server.objects.select_for_update(no_key=True).filter(pk=server.pk).exists():
            return None
        return PingResult.objects.create(
            server=server,
            kind=PingKind.LOG,
            status=PingStatus.SUCCESS,
            error_message=msg[:MAX_MESSAGE],
            body=body,
            check_timestamp=now,
        )


def missed_outcome(server: Server, deadline: datetime | None = None) -> ProbeOutcome:
    """What a missed deadline records: a ``timeout`` saying how long the silence allowed was, or
    for a cron ``schedule`` the deadline missed, in ISO 8601 in the schedule's time zone."""
    if server.schedule and deadline is not None:
        local = deadline.astimezone(ZoneInfo(server.schedule_timezone))
        return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no push by {local.isoformat(timespec='seconds')}")
    return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no push within {server.push_window} s")


def rotate_token(server: Server) -> str:
    """Give ``server`` a new push token; the old one is unknown from this moment."""
    server.push_token = new_push_token()
    Server.objects.filter(pk=server.pk).update(push_token=server.push_token)
    return server.push_token
