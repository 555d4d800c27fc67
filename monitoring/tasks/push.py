"""The scheduler's push step: a push monitor whose deadline passed records a missed push (SPEC §11).

The deadline (``Server.push_deadline_at``) is claimed apart from the check engine's leases
(``tasks.claims`` never claims push servers): in a short transaction, rows read with
``SELECT … FOR UPDATE SKIP LOCKED`` and moved on by an UPDATE conditional on the value read,
so with several scheduler processes exactly one records each missed deadline. The claim moves
the deadline one ``check_interval`` on: each further interval of silence is one more failure.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitoring.models import Server
from monitoring.services.engine.push import missed_outcome
from monitoring.services.engine.recording import CheckRecord, CheckResult, record

log = logging.getLogger(__name__)


def claim_overdue(now: datetime, *, limit: int = 500) -> list[tuple[Server, datetime]]:
    """Claim up to ``limit`` push servers whose deadline has passed; (server, the deadline it missed)."""
    claimed: list[tuple[Server, datetime]] = []
    with transaction.atomic():
        overdue = list(
            Server.objects.push_overdue(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("push_deadline_at", "id")[:limit]
        )
        for server in overdue:
            missed = server.push_deadline_at
            assert missed is not None
            next_at = server.next_push_deadline(missed, missed=True, now=now)
            won = Server.objects.filter(pk=server.pk, push_deadline_at=missed).update(push_deadline_at=next_at)
            if won:
                server.push_deadline_at = next_at
                claimed.append((server, missed))
            else:
                log.debug("push_claim_lost server_id=%s", server.pk)
    return claimed


def push_step(now: datetime | None = None, *, limit: int = 500) -> list[CheckRecord]:
    """Record a missed push for every claimed overdue push server, as one batch."""
    now = now or timezone.now()
    claimed = claim_overdue(now, limit=limit)
    if not claimed:
        return []
    batch = [CheckResult(server, missed_outcome(server, missed), now, due_at=missed) for server, missed in claimed]
    records = record(batch)
    for rec in records:
        log.info("push_missed server_id=%s status=%s", rec.state.server_id, rec.state.status)
    return records
