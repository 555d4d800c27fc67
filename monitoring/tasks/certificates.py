"""Claiming https servers whose certificate check is due, and checking a batch of them.

Used by the scheduler's ``certificate_step`` (every CERTIFICATE_STEP_SECONDS) and ``check_certificates``
(cron); every check runs on the check engine (``tasks.engine.run_certificate_checks``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import close_old_connections, transaction
from django.utils import timezone

from monitoring.models import CertificateCheck, Server
from monitoring.models.certificates import certificate_check_due
from monitoring.tasks.engine import OnDone, run_certificate_checks

log = logging.getLogger(__name__)

#: Servers one step claims; the rest wait for the next step.
BATCH = 50


def claim_due_certificates(now: datetime, *, limit: int = BATCH) -> list[CertificateCheck]:
    """Claim up to ``limit`` servers whose certificate check is due; the claim rows, server attached.

    1. In a short transaction, lock due servers with ``SELECT … FOR UPDATE SKIP LOCKED``
       (PostgreSQL; other claimers skip them; SQLite's IMMEDIATE transactions serialise the
       whole block instead).
    2. Ask again, in a fresh statement, which of them are still due: a claimer that committed
       between our first read and our lock has already inserted its claim (``claim_servers``).
    3. Insert an ``in_progress`` CertificateCheck for each one still due. That row makes the
       server not due for everyone else; the lock is released at commit.
    4. Probe later, outside the transaction, and fill the row in.
    """
    with transaction.atomic():
        candidates = list(
            certificate_check_due(now).select_for_update(skip_locked=True, of=("self",)).order_by("id")[:limit]
        )
        return claim_servers(candidates, now)


def claim_servers(candidates: list[Server], now: datetime) -> list[CertificateCheck]:
    """Insert claims for the ``candidates`` still due at ``now``; the others were taken by
    another process after we read them, and are dropped. Call it holding their row locks."""
    still_due = set(certificate_check_due(now).filter(pk__in=[s.pk for s in candidates]).values_list("pk", flat=True))
    for server in candidates:
        if server.pk not in still_due:
            log.debug("certificate_claim_lost server_id=%s", server.pk)
    claims = [CertificateCheck(server=s, checked_at=now, in_progress=True) for s in candidates if s.pk in still_due]
    return CertificateCheck.objects.bulk_create(claims)


def run_due_certificates(
    *, now: datetime | None = None, limit: int = BATCH, concurrency: int = 10, on_done: OnDone | None = None
) -> list[CertificateCheck]:
    """Claim the servers whose certificate check is due and check them."""
    claims = claim_due_certificates(now or timezone.now(), limit=limit)
    return run_certificate_checks([(c.server, c) for c in claims], concurrency=concurrency, on_done=on_done)


def certificate_step(*, concurrency: int = 10, limit: int = BATCH) -> bool:
    """The scheduler's job: claim and check the certificates that are due; True if it found any."""
    close_old_connections()
    try:
        checks = run_due_certificates(limit=limit, concurrency=concurrency)
    finally:
        close_old_connections()
    if checks:
        log.info(
            "certificate_pass checked=%d invalid=%d needs_renewal=%d",
            len(checks),
            sum(1 for c in checks if not c.valid),
            sum(1 for c in checks if c.needs_renewal),
        )
    return bool(checks)
