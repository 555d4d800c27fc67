"""Sending queued alerts: claim a row with a lease, send outside any transaction, record.

Used by ``send_notifications`` (one pass), ``check_servers`` (after its pass), the
scheduler's sender job (every few seconds) and the API's test action. Unlike marking an
alert processed before sending it, a crash mid-send here loses nothing: the lease lapses
and another sender retries the row (which counts as an attempt, so a row that kills its
sender cannot loop forever).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus
from monitoring.models import NotificationConfig, NotificationDelivery
from monitoring.services.notifiers.base import NotifyError
from monitoring.services.notifiers.registry import notifier_for

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 600


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed try: 10 s, 20 s, 40 s … at most 10 minutes."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def lease() -> timedelta:
    """How long a claim holds: well past the slowest send (one request or one SMTP session)."""
    return timedelta(seconds=max(120, 4 * settings.NOTIFICATION_TIMEOUT, 4 * settings.EMAIL_TIMEOUT))


def candidates(now: datetime, limit: int) -> list[NotificationDelivery]:
    """Due rows, locked with SKIP LOCKED (PostgreSQL) so other senders pass over them.

    Call inside a transaction. SQLite ignores the lock, but its IMMEDIATE transactions
    serialise claiming processes instead; either way ``try_claim`` decides.
    """
    return list(
        NotificationDelivery.objects.due(now)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("config__server", "change", "incident", "certificate_check")
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


def claim(now: datetime, limit: int = 1) -> list[NotificationDelivery]:
    """Claim up to ``limit`` due deliveries in one short transaction."""
    with transaction.atomic():
        return [delivery for delivery in candidates(now, limit) if try_claim(delivery, now)]


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
    config = delivery.config
    max_attempts = settings.NOTIFICATION_MAX_ATTEMPTS
    if delivery.attempts > max_attempts:
        return _record(delivery, DeliveryStatus.FAILED, "gave up: the last attempt did not finish", now)
    if delivery.event != AlertEvent.TEST and not (config.enabled and config.server.notifications):
        return _record(delivery, DeliveryStatus.SUPPRESSED, "suppressed: notifications were switched off", now)
    try:
        notifier_for(config.notification_type).send(delivery)
    except NotifyError as exc:
        error, retryable = str(exc) or exc.__class__.__name__, exc.retryable
    except Exception as exc:  # a bug in one channel must not stop the sender (logged in full)
        log.exception("delivery_crashed delivery_id=%s", delivery.pk)
        error, retryable = f"{exc.__class__.__name__}: {exc}", True
    else:
        return _record(delivery, DeliveryStatus.SENT, "", now)
    if retry and retryable and delivery.attempts < max_attempts:
        return _record(delivery, DeliveryStatus.PENDING, error, now, retry_in=backoff(delivery.attempts))
    if retryable and retry:
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
    held = NotificationDelivery.objects.filter(pk=delivery.pk, claimed_until=delivery.claimed_until).update(**fields)
    if not held:
        # Our lease lapsed and another sender took the row; it records its own outcome.
        log.warning("delivery_lease_lost delivery_id=%s outcome=%s", delivery.pk, status)
    for name, value in fields.items():
        setattr(delivery, name, value)
    log.info(
        "delivery delivery_id=%s config_id=%s event=%s status=%s attempts=%s error=%r",
        delivery.pk,
        delivery.config_id,
        delivery.event,
        status,
        delivery.attempts,
        error,
    )
    return status == DeliveryStatus.SENT


def send_pending(limit: int = 50, *, now: datetime | None = None) -> int:
    """One sender step: claim and send due deliveries one by one; returns how many were handled.

    One at a time keeps each lease as short as one send, and lets a recovery queued behind
    its DOWN go out in the same pass once the DOWN is done.
    """
    handled = 0
    while handled < limit:
        claimed = claim(now or timezone.now())
        if not claimed:
            break
        for delivery in claimed:
            deliver(delivery, now=now)
            handled += 1
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
    deliver(delivery, retry=False)
    return delivery
