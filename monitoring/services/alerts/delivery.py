"""Sending queued alerts: claim a row with a lease, send outside any transaction, record.

Used by ``send_notifications`` (one pass), ``check_servers`` (after its pass), the
scheduler's sender job (every few seconds) and the API's test action. Unlike marking an
alert processed before sending it, a crash mid-send here loses nothing: the lease lapses
and another sender retries the row (which counts as an attempt, so a row that kills its
sender cannot loop forever).

Alerts go out concurrently, bounded per receiver host and per owner (``InFlight``), so a
receiver that accepts and never answers delays only the alerts addressed to it (SPEC §23).
Every attempt of one row carries the same ``X-PulseGuard-Delivery`` id, and its outcome is
recorded with retries through a database outage, so a receiver can drop a repeat and a
repeat is rare.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus
from monitoring.models import NotificationConfig, NotificationDelivery
from monitoring.services.alerts import grouping
from monitoring.services.alerts.notifiers.base import NotifyError
from monitoring.services.alerts.notifiers.registry import notifier_for

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 600
# Due rows one claim looks at to find those that fit the bounds: rows of owners at their
# bound are left out by the query; rows of a busy host are passed over in this window.
CLAIM_WINDOW = 200
# While alerts are in flight, how often the sender looks for new due ones.
POLL_SECONDS = 0.5
# Recording an outcome through a database outage: first wait, and the longest wait.
RECORD_FIRST_RETRY_SECONDS = 0.25
RECORD_MAX_RETRY_SECONDS = 5.0


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed try: 10 s, 20 s, 40 s … at most 10 minutes."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def lease() -> timedelta:
    """How long a claim holds: well past the slowest send (one request or one SMTP session)."""
    return timedelta(seconds=max(120, 4 * settings.NOTIFICATION_TIMEOUT, 4 * settings.EMAIL_TIMEOUT))


class InFlight:
    """How many alerts are being sent, in all, per receiver host and per owner; and the bounds."""

    def __init__(self, *, total: int, per_host: int, per_owner: int) -> None:
        self.total, self.per_host, self.per_owner = total, per_host, per_owner
        self.hosts: Counter[str] = Counter()
        self.owners: Counter[int] = Counter()
        self.count = 0

    @classmethod
    def from_settings(cls) -> InFlight:
        return cls(
            total=settings.NOTIFICATION_CONCURRENCY,
            per_host=settings.NOTIFICATION_CONCURRENCY_PER_HOST,
            per_owner=settings.NOTIFICATION_CONCURRENCY_PER_OWNER,
        )

    @property
    def room(self) -> int:
        return self.total - self.count

    def fits(self, owner_id: int, host: str) -> bool:
        return self.room > 0 and self.hosts[host] < self.per_host and self.owners[owner_id] < self.per_owner

    def add(self, owner_id: int, host: str) -> None:
        self.count += 1
        self.hosts[host] += 1
        self.owners[owner_id] += 1

    def remove(self, owner_id: int, host: str) -> None:
        self.count -= 1
        self.hosts[host] -= 1
        self.owners[owner_id] -= 1

    def full_owners(self) -> set[int]:
        return {owner for owner, n in self.owners.items() if n >= self.per_owner}


def bound_keys(delivery: NotificationDelivery) -> tuple[int, str]:
    """(owner: the team id, receiver host) of a delivery: what ``InFlight`` bounds."""
    config = delivery.config
    return config.team_id, notifier_for(config.notification_type).receiver_host(config)


def candidates(now: datetime, limit: int, *, skip_owners: set[int] | None = None) -> list[NotificationDelivery]:
    """Due rows (not of ``skip_owners``), locked with SKIP LOCKED (PostgreSQL) so other senders pass over them.

    Call inside a transaction. SQLite ignores the lock, but its IMMEDIATE transactions
    serialise claiming processes instead; either way ``try_claim`` decides.
    """
    due = NotificationDelivery.objects.due(now)
    if skip_owners:
        due = due.exclude(config__team_id__in=skip_owners)
    return list(
        due.select_for_update(skip_locked=True, of=("self",))
        .select_related("config", "change__server", "incident__server", "certificate_check__server", "location")
        .order_by("next_attempt_at", "id")[:limit]
    )


def try_claim(delivery: NotificationDelivery, now: datetime) -> bool:
    """Take ``delivery`` for this sender with a conditional UPDATE; False if another got there first.

    The UPDATE matches only the state we read (status, attempts and lease), so of two
    senders that read the same row, exactly one changes it.
    """
    until = now + lease()
    won = NotificationDelivery.objects.filter(
        pk=delivery.pk,
        status=delivery.status,
        attempts=delivery.attempts,
        claimed_until=delivery.claimed_until,
    ).update(status=DeliveryStatus.PENDING, claimed_until=until, attempts=F("attempts") + 1)
    if not won:
        log.debug("delivery_claim_lost delivery_id=%s", delivery.pk)
        return False
    delivery.status = DeliveryStatus.PENDING
    delivery.claimed_until = until
    delivery.attempts += 1
    return True


def claim(now: datetime, limit: int = 1, flight: InFlight | None = None) -> list[NotificationDelivery]:
    """Claim up to ``limit`` due deliveries in one short transaction.

    With ``flight``, only those that can start now within its bounds (and add them to it): a
    row that would wait for a busy host or owner stays unclaimed, so no lease ticks on a
    queue, and another sender (or the next round) may take it.

    A claimed DOWN or recovery of a flood gathers its destination's other alerts into one
    grouped message in the same transaction (``grouping.gather``).
    """
    floods = grouping.Floods()
    with transaction.atomic():
        claimed: list[NotificationDelivery] = []
        if flight is None:
            for delivery in candidates(now, limit):
                if try_claim(delivery, now):  # a row an earlier lead gathered is not ours to claim
                    grouping.gather(delivery, floods)
                    claimed.append(delivery)
            return claimed
        for delivery in candidates(now, CLAIM_WINDOW, skip_owners=flight.full_owners()):
            if len(claimed) >= limit:
                break
            keys = bound_keys(delivery)
            if flight.fits(*keys) and try_claim(delivery, now):
                grouping.gather(delivery, floods)
                flight.add(*keys)
                claimed.append(delivery)
        return claimed


class Failure(NamedTuple):
    """Why an attempt failed, and whether a later one can succeed."""

    error: str
    retryable: bool


def deliver(delivery: NotificationDelivery, *, retry: bool = True, now: datetime | None = None) -> bool:
    """Send one claimed delivery and record the outcome; True if it was delivered.

    1. A row whose last attempt never finished (its sender died) and has no attempts left
       fails without sending again.
    2. An alert whose config or server switch was turned off since it was queued is
       suppressed (a test message is sent regardless).
    3. Send. Success records ``delivered_at``; a retryable error with attempts left
       schedules the next one with backoff; anything else fails for good, keeping the error.

    ``now`` (default: the clock after sending) dates the outcome; tests pass their own.
    """
    if not _sendable(delivery, now):
        return False
    return _conclude(delivery, attempt(delivery), retry=retry, now=now)


def _sendable(delivery: NotificationDelivery, now: datetime | None) -> bool:
    """Steps 1 and 2 of ``deliver``: False (and the outcome recorded) if it must not be sent."""
    config = delivery.config
    if delivery.attempts > settings.NOTIFICATION_MAX_ATTEMPTS:
        _record(delivery, DeliveryStatus.FAILED, "gave up: the last attempt did not finish", now)
        return False
    server = delivery.server  # the change's or the certificate check's; a config serves many
    if delivery.event != AlertEvent.TEST and not (config.enabled and (server is None or server.notifications)):
        _record(delivery, DeliveryStatus.SUPPRESSED, "suppressed: notifications were switched off", now)
        return False
    return True


def attempt(delivery: NotificationDelivery) -> Failure | None:
    """Send once; None on success. Network only (the row comes with what it needs), so any thread may call it."""
    try:
        notifier_for(delivery.config.notification_type).send(delivery)
    except NotifyError as exc:
        return Failure(str(exc) or exc.__class__.__name__, exc.retryable)
    except Exception as exc:  # a bug in one channel must not stop the sender (logged in full)
        log.exception("delivery_crashed delivery_id=%s", delivery.pk)
        return Failure(f"{exc.__class__.__name__}: {exc}", True)
    return None


def _conclude(delivery: NotificationDelivery, failure: Failure | None, *, retry: bool, now: datetime | None) -> bool:
    """Step 3 of ``deliver``: record what ``attempt`` returned."""
    if failure is None:
        return _record(delivery, DeliveryStatus.SENT, "", now)
    error = failure.error
    if retry and failure.retryable and delivery.attempts < settings.NOTIFICATION_MAX_ATTEMPTS:
        return _record(delivery, DeliveryStatus.PENDING, error, now, retry_in=backoff(delivery.attempts))
    if failure.retryable and retry:
        error = f"{error} (gave up after {delivery.attempts} attempts)"
    return _record(delivery, DeliveryStatus.FAILED, error, now)


def _record(
    delivery: NotificationDelivery,
    status: str,
    error: str,
    now: datetime | None,
    *,
    retry_in: timedelta | None = None,
) -> bool:
    """Store the outcome, if we still hold the lease; returns whether it was delivered."""
    now = now or timezone.now()
    fields: dict[str, object] = {"status": status, "claimed_until": None}
    if status == DeliveryStatus.SENT:
        # The error of an earlier attempt stays: "sent on attempt 3, after: connection refused".
        fields["delivered_at"] = now
    else:
        fields["last_error"] = error[:2000]
    if retry_in is not None:
        fields["next_attempt_at"] = now + retry_in
    if not _store_with_retries(delivery, fields, status):
        # Our lease lapsed and another sender took the row; it records its own outcome.
        log.warning("delivery_lease_lost delivery_id=%s outcome=%s", delivery.pk, status)
    for name, value in fields.items():
        setattr(delivery, name, value)
    about = (
        f"delivery_id={delivery.pk} config_id={delivery.config_id} event={delivery.event} attempt={delivery.attempts}"
    )
    if status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
        # One line, no traceback: a receiver failing is the world, not a bug (those are logged by attempt()).
        then = delivery.next_attempt_at.isoformat() if status == DeliveryStatus.PENDING else "none (failed)"
        log.warning("delivery_failed %s error=%r next_attempt_at=%s", about, error, then)
    else:
        log.info("delivery %s status=%s note=%r", about, status, error)
    return status == DeliveryStatus.SENT


def _store(delivery: NotificationDelivery, fields: dict[str, object]) -> int:
    """One conditional UPDATE: the outcome, only where our lease still holds; the rows changed.

    A group's lead hands a final outcome to its members in the same transaction
    (``grouping.conclude_members``)."""
    mine = NotificationDelivery.objects.filter(pk=delivery.pk, claimed_until=delivery.claimed_until)
    if delivery.group_id != delivery.pk or fields["status"] == DeliveryStatus.PENDING:
        return mine.update(**fields)
    with transaction.atomic():
        won = mine.update(**fields)
        if won:
            status = str(fields["status"])
            when = fields.get("delivered_at") or timezone.now()
            grouping.conclude_members(delivery, status, str(fields.get("last_error", "")), when)  # type: ignore[arg-type]
        return won


def _store_with_retries(delivery: NotificationDelivery, fields: dict[str, object], status: str) -> int:
    """``_store``, retried with a fresh connection while the database is unreachable.

    A receiver that answered 200 while PostgreSQL was down must not get the alert again when
    the lease lapses: retry for up to half a lease (the send took at most a quarter, see
    ``lease()``), then give up loudly (the next attempt carries the same delivery id).
    """
    budget = lease().total_seconds() / 2
    started = time.monotonic()
    pause = RECORD_FIRST_RETRY_SECONDS
    while True:
        try:
            return _store(delivery, fields)
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() - started + pause > budget:
                log.error("delivery_record_failed delivery_id=%s outcome=%s error=%s", delivery.pk, status, exc)
                raise
            log.warning(
                "delivery_record_retry delivery_id=%s outcome=%s error=%s retry_in=%.2fs",
                delivery.pk,
                status,
                str(exc).strip(),
                pause,
            )
            if not connection.in_atomic_block:
                connection.close()  # the next query connects afresh
            time.sleep(pause)
            pause = min(pause * 2, RECORD_MAX_RETRY_SECONDS)


def send_pending(limit: int = 50, *, now: datetime | None = None) -> int:
    """One sender step: send due deliveries concurrently; returns how many were handled.

    1. Claim the due rows that can start now within the bounds (``claim`` with ``InFlight``).
    2. Send each on a worker thread (``attempt``: network only); this thread records each
       outcome as it finishes, then claims again. So a recovery queued behind its DOWN goes
       out in the same pass once the DOWN is done, and an alert due while others hang on a
       silent receiver starts within ``POLL_SECONDS``.
    3. Return when nothing is in flight and nothing more is due (or ``limit`` were handled).
    """
    handled = 0
    flight = InFlight.from_settings()
    running: dict[Future[Failure | None], NotificationDelivery] = {}
    with ThreadPoolExecutor(max_workers=flight.total, thread_name_prefix="alert-sender") as pool:
        while True:
            room = min(limit - handled, flight.room)
            claimed = claim(now or timezone.now(), room, flight) if room > 0 else []
            handled += len(claimed)
            for delivery in claimed:
                if _sendable(delivery, now):
                    running[pool.submit(attempt, delivery)] = delivery
                else:
                    flight.remove(*bound_keys(delivery))
            if not running:
                if claimed:
                    continue  # all recorded without sending; more may be due
                break
            done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                delivery = running.pop(future)
                flight.remove(*bound_keys(delivery))
                _conclude(delivery, future.result(), retry=True, now=now)
    return handled


def send_test(config: NotificationConfig) -> NotificationDelivery:
    """Send a test message to ``config`` now, once, and return its (recorded) delivery."""
    now = timezone.now()
    # Created already claimed, so no background sender picks it up; it is tried exactly once.
    delivery = NotificationDelivery.objects.create(
        config=config,
        event=AlertEvent.TEST,
        attempts=1,
        claimed_until=now + lease(),
        next_attempt_at=now,
        created_at=now,
    )
    if not connection.in_atomic_block:
        # The request needs no connection while the receiver takes its time (up to
        # NOTIFICATION_TIMEOUT): give it back (SPEC §23); recording the outcome reconnects.
        connection.close()
    deliver(delivery, retry=False)
    return delivery
