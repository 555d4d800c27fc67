"""Changing how a server is checked, through the one writer of status and schedule
(``services.engine.recording.record``): pause, resume, an edit, and recording one outcome by hand.

Checks themselves run on the check engine (``tasks.engine``: the scheduler, check-now, the
admin action, ``check_servers``); deletes lock what a running check would write first.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from monitoring.models import Server, ServerStatus
from monitoring.models.servers import RESCHEDULING_FIELDS
from monitoring.services.engine.recording import CheckRecord, CheckResult, record
from monitoring.services.engine.transitions import Outcome, Pause, ProbeOutcome, Reschedule, Resume

log = logging.getLogger(__name__)


class NotProbed(ValueError):
    """A push server has nothing to probe: its results come from its push URL (SPEC §11)."""


NOT_PROBED = "A push monitor is never checked: its job calls its push URL instead."


def record_outcome(server: Server, outcome: ProbeOutcome, now: datetime | None = None) -> CheckRecord:
    """Record one outcome of a check started at ``now`` (default: this instant) as a batch of one."""
    return record([CheckResult(server, outcome, now or timezone.now())])[0]


def pause(server: Server) -> ServerStatus:
    """Stop checking a server; its status becomes PAUSED (pausing twice changes nothing)."""
    return _apply(server, Pause())


def resume(server: Server) -> ServerStatus:
    """Start checking again: UNKNOWN until the check, which is due at once."""
    return _apply(server, Resume())


def _apply(server: Server, outcome: Outcome) -> ServerStatus:
    records = record([CheckResult(server, outcome, timezone.now())])
    if not records:  # deleted meanwhile
        raise Server.DoesNotExist(f"Server {server.pk} no longer exists.")
    return records[0].state


def save_edit(server: Server, changed: Collection[str]) -> None:
    """Save an edit of ``server`` whose fields ``changed`` (the API, the web, an import, the admin
    form): its own fields with ``save()``, then, in the same transaction, a change of
    ``is_active`` as a pause or resume, and a change of what or how often it checks as a
    ``Reschedule`` (checked at once, SPEC §23), through ``record`` like every change of status
    and schedule."""
    changed = set(changed)
    outcome: Outcome | None = None
    if "is_active" in changed:
        outcome = Resume() if server.is_active else Pause()
    elif changed & RESCHEDULING_FIELDS:
        outcome = Reschedule()
    with transaction.atomic():
        server.save()
        if outcome is not None:
            record([CheckResult(server, outcome, timezone.now())])


def delete_servers(servers: QuerySet[Server, Any]) -> int:
    """Delete ``servers`` and everything of theirs, even while their checks run; how many.

    The rows are locked first, in id order, as ``record`` locks them: a record under way ends
    before the delete reads what to cascade (so nothing it wrote is left behind), and a record
    that comes after finds them gone and skips them quietly. Without the lock, a result written
    between the cascade and the delete of the row failed the delete with an integrity error, or
    the two deadlocked.
    """
    with transaction.atomic():
        wanted = list(servers.values_list("pk", flat=True))
        ids = list(Server.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True))
        if not ids:
            return 0
        Server.objects.filter(pk__in=ids).delete()
    return len(ids)
