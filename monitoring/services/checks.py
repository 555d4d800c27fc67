"""The check engine: the one ``run_check()`` that the API, admin, check_servers and the
scheduler all call, plus pause and resume. Every status change is a StatusChange row
written in the same transaction as the new ServerStatus."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitoring.choices import Status
from monitoring.models import PingResult, Server, ServerStatus, StatusChange
from monitoring.services import alerts, live, metrics
from monitoring.services.probes import ProbeOutcome, probe
from monitoring.services.transitions import next_status

log = logging.getLogger(__name__)

# A check that lands while the server is in one of these keeps that status.
HELD_STATUSES = frozenset({Status.PAUSED, Status.MAINTENANCE})


@dataclass(frozen=True)
class CheckRecord:
    ping: PingResult
    state: ServerStatus
    change: StatusChange | None


def run_check(server: Server) -> CheckRecord:
    """Probe ``server`` once (outside any transaction), then record what was seen.

    A server the scheduler claimed carries ``due_at`` (its due time, set by
    ``tasks.runner.claim_due``): how late this start is goes to the lateness histogram.
    """
    due_at: datetime | None = getattr(server, "due_at", None)
    lateness = max((timezone.now() - due_at).total_seconds(), 0.0) if due_at is not None else None
    outcome = probe(server)
    record = record_outcome(server, outcome, lateness_seconds=lateness)
    log.info(
        "check server_id=%s status=%s ping=%s response_ms=%s code=%s error=%r",
        server.pk,
        record.state.status,
        record.ping.status,
        record.ping.response_time,
        record.ping.status_code,
        record.ping.error_message,
    )
    return record


def record_outcome(
    server: Server, outcome: ProbeOutcome, now: datetime | None = None, *, lateness_seconds: float | None = None
) -> CheckRecord:
    """Store the PingResult, move ServerStatus through the state machine, record any change,
    and count the check for /metrics (``lateness_seconds``: start − due of a scheduled check).

    The ServerStatus row is locked for the transaction so two checks of one server
    (an API "check now" racing the scheduler) apply one after the other.
    """
    now = now or timezone.now()
    with transaction.atomic():
        state = ServerStatus.objects.select_for_update().get(server_id=server.pk)
        ping = PingResult.objects.create(
            server=server,
            status=outcome.status,
            response_time=outcome.response_time,
            status_code=outcome.status_code,
            error_message=outcome.error_message,
            check_timestamp=now,
        )
        state.last_check = now
        state.last_response_time = outcome.response_time
        state.record_check(failed=not outcome.ok)
        change = None
        if state.status not in HELD_STATUSES:
            step = next_status(
                state.status,
                ok=outcome.ok,
                response_time=outcome.response_time,
                consecutive_failures=state.consecutive_failures,
                retries=server.retries,
                degraded_threshold_ms=server.degraded_threshold_ms,
                error=outcome.error_message,
            )
            state.consecutive_failures = step.consecutive_failures
            state.message = step.message
            if step.changed:
                change = _change_status(server, state, step.status, step.message, now, ping)
        state.save()
        metrics.count_checks([outcome.status], [] if lateness_seconds is None else [lateness_seconds])
        transaction.on_commit(lambda: live.publish_check(server, ping, state))
    return CheckRecord(ping, state, change)


def _change_status(
    server: Server,
    state: ServerStatus,
    new: str,
    message: str,
    now: datetime,
    ping: PingResult | None = None,
) -> StatusChange:
    """Record a transition; the caller holds the ServerStatus lock and saves ``state``."""
    change = StatusChange.objects.create(
        server=server, previous_status=state.status, status=new, message=message, changed_at=now, ping=ping
    )
    state.status = new
    state.last_status_change = now
    Server.objects.filter(pk=server.pk).update(status=new)
    server.status = new
    log.info("status_change server_id=%s from=%s to=%s", server.pk, change.previous_status, new)
    # Incidents and alert rows commit with the change, or not at all (services.alerts).
    alerts.on_status_change(change)
    return change


def pause(server: Server) -> ServerStatus:
    """Stop checking a server; its status becomes PAUSED."""
    return _set_active(server, active=False, status=Status.PAUSED, message="paused")


def resume(server: Server) -> ServerStatus:
    """Start checking again: UNKNOWN until the next check, which is due at once."""
    return _set_active(server, active=True, status=Status.UNKNOWN, message="resumed, waiting for a check")


def _set_active(server: Server, *, active: bool, status: str, message: str) -> ServerStatus:
    """Flip ``is_active``; only a real flip changes the status (pausing twice is a no-op)."""
    now = timezone.now()
    with transaction.atomic():
        state = ServerStatus.objects.select_for_update().get(server_id=server.pk)
        was_active = Server.objects.filter(pk=server.pk).values_list("is_active", flat=True).get()
        Server.objects.filter(pk=server.pk).update(is_active=active, next_check_at=now)
        server.is_active = active
        server.next_check_at = now
        if was_active != active:
            state.consecutive_failures = 0
            state.message = message
            _change_status(server, state, status, message, now)
            state.save()
            transaction.on_commit(lambda: live.publish_status(server, state))
    return state
