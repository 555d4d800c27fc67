"""The check engine's front door: ``run_check()`` (the API's check-now, the admin action) is a
probe and a batch of one for ``services.recording.record``; pause and resume move the status
by hand. Every status change is a StatusChange row written in the same transaction as the new
ServerStatus."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitoring.choices import Protocol, Status
from monitoring.models import Server, ServerStatus
from monitoring.services import live
from monitoring.services.probes import probe
from monitoring.services.recording import CheckRecord, CheckResult, change_status, record
from monitoring.services.transitions import ProbeOutcome

log = logging.getLogger(__name__)


class NotProbed(ValueError):
    """A push server has nothing to probe: its results come from its push URL (SPEC §11)."""


NOT_PROBED = "A push monitor is never checked: its job calls its push URL instead."


def run_check(server: Server) -> CheckRecord:
    """Probe ``server`` once (outside any transaction), then record what was seen."""
    if server.protocol == Protocol.PUSH:
        raise NotProbed(NOT_PROBED)
    started = timezone.now()
    rec = record_outcome(server, probe(server), now=started)
    log.info(
        "check server_id=%s status=%s ping=%s response_ms=%s code=%s error=%r",
        server.pk,
        rec.state.status,
        rec.ping.status,
        rec.ping.response_time,
        rec.ping.status_code,
        rec.ping.error_message,
    )
    return rec


def record_outcome(server: Server, outcome: ProbeOutcome, now: datetime | None = None) -> CheckRecord:
    """Record one outcome of a check started at ``now`` (default: this instant) as a batch of one."""
    return record([CheckResult(server, outcome, now or timezone.now())])[0]


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
        # A resumed push monitor has a full interval and grace for its first push (SPEC §11).
        deadline = server.next_push_deadline(now) if server.is_push and active else server.push_deadline_at
        Server.objects.filter(pk=server.pk).update(is_active=active, next_check_at=now, push_deadline_at=deadline)
        server.is_active = active
        server.next_check_at = now
        server.push_deadline_at = deadline
        if was_active != active:
            state.consecutive_failures = 0
            state.message = message
            change_status(server, state, status, message, now)
            state.save()
            transaction.on_commit(lambda: live.publish_status(server, state))
    return state
