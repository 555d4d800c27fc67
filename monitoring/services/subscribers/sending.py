"""Sending page messages to subscribers: the guarantees of alerts (SPEC §7), in a lane of their own.

1. Fan out: each message not yet fanned out becomes one delivery per confirmed subscriber, in
   one INSERT … SELECT (unique on message and subscriber, so a repeat inserts nothing).
2. Claim a batch of due deliveries with a lease, in one short transaction (SKIP LOCKED on
   PostgreSQL, so several senders share the work and never take the same row).
3. Send outside any transaction, on SUBSCRIBER_CONCURRENCY threads, each with one SMTP
   session for its share of the batch; record the outcome only where our lease still holds:
   sent rows in one UPDATE, failures with backoff (``delivery.backoff``) until
   NOTIFICATION_MAX_ATTEMPTS. A sender that dies leaves leases that lapse; the row is tried
   again (one more attempt counted), so nothing is lost and a repeat is rare.

The lane is its own scheduler job and has its own threads, so the alerts' sender never waits
behind a page's 10,000 e-mails; ``check_servers`` (cron mode) gives it a time budget.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.links import absolute_url
from monitoring.choices import DeliveryStatus, SubscriberKind
from monitoring.models import PageMessage, StatusPage, Subscriber, SubscriberDelivery
from monitoring.services.alerts.delivery import Failure, backoff, lease
from monitoring.services.alerts.notifiers.base import NotifyError, post
from monitoring.services.subscribers.subscriptions import CONFIRM, UNSUBSCRIBE, link

log = logging.getLogger(__name__)

BATCH = 200
FAN_OUT_MESSAGES = 20


def fan_out(now: datetime | None = None) -> int:
    """Step 1: deliveries for the messages not fanned out yet; how many messages were."""
    now = now or timezone.now()
    done = 0
    with transaction.atomic():
        pending = list(
            PageMessage.objects.filter(fanned_out_at__isnull=True)
            .select_for_update(skip_locked=True)
            .order_by("created_at", "id")[:FAN_OUT_MESSAGES]
        )
        deliveries = connection.ops.quote_name(SubscriberDelivery._meta.db_table)
        subscribers = connection.ops.quote_name(Subscriber._meta.db_table)
        # Raw SQL: the datetimes are written as the ORM writes them (SQLite compares them as text).
        at = connection.ops.adapt_datetimefield_value(now)
        for message in pending:
            created = connection.ops.adapt_datetimefield_value(message.created_at)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {deliveries} (subscriber_id, message_id, status, attempts, next_attempt_at, "
                    "last_error, created_at) "
                    f"SELECT id, %s, %s, 0, %s, '', %s FROM {subscribers} "
                    "WHERE page_id = %s AND confirmed_at IS NOT NULL AND confirmed_at <= %s "
                    "ON CONFLICT DO NOTHING",
                    [message.pk, DeliveryStatus.PENDING, at, at, message.page_id, created],
                )
            done += 1
        if pending:
            PageMessage.objects.filter(pk__in=[m.pk for m in pending]).update(fanned_out_at=now)
    return done


def claim(now: datetime, limit: int) -> list[SubscriberDelivery]:
    """Step 2: up to ``limit`` due deliveries, now leased to this sender."""
    until = now + lease()
    with transaction.atomic():
        ids = list(
            SubscriberDelivery.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        # The rows are locked (PostgreSQL) or the transaction is exclusive (SQLite); the
        # due() condition again makes a claim that lost a race take nothing.
        SubscriberDelivery.objects.filter(pk__in=ids).due(now).update(claimed_until=until, attempts=F("attempts") + 1)
    rows = list(
        SubscriberDelivery.objects.filter(pk__in=ids, claimed_until=until)
        .select_related("subscriber__page", "message")
        .defer("subscriber__page__logo")
        .order_by("id")
    )
    for row in rows:  # the sending threads touch no database: everything they read is here
        if row.message is not None:
            row.message.page = row.subscriber.page
    return rows


def page_url(page: StatusPage) -> str:
    return absolute_url(f"/status/{page.slug}/")


def payload(message: PageMessage) -> dict[str, object]:
    """The webhook body of SPEC §21 (names already public: ``events`` wrote them)."""
    page = message.page
    return {
        "event": message.event,
        "page": {"slug": page.slug, "title": page.title, "url": page_url(page)},
        "title": message.title,
        "status": message.status,
        "message": message.message,
        "impact": message.impact,
        "time": message.time.isoformat(),
    }


def email_for(delivery: SubscriberDelivery) -> EmailMultiAlternatives:
    """The e-mail of one delivery: a confirmation request, or a message with its unsubscribe link
    in the body and as one-click ``List-Unsubscribe`` (RFC 8058)."""
    subscriber, message = delivery.subscriber, delivery.message
    page = subscriber.page
    if message is None:
        confirm = link(subscriber, CONFIRM)
        return EmailMultiAlternatives(
            subject=f"Confirm your subscription to {page.title}",
            body=(
                f"Someone (we hope you) asked to receive status updates of {page.title} ({page_url(page)}).\n\n"
                f"Confirm by opening this link:\n{confirm}\n\n"
                "If it was not you, ignore this message: nothing will be sent to you.\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[subscriber.target],
        )
    leave = link(subscriber, UNSUBSCRIBE)
    lines = [message.title, ""]
    if message.status:
        lines.append(f"Status: {message.status}")
    if message.impact:
        lines.append(f"Impact: {message.impact}")
    lines.append(f"Time: {message.time.isoformat()}")
    if message.message:
        lines += ["", message.message]
    lines += ["", f"{page.title}: {page_url(page)}", "", f"Unsubscribe: {leave}", ""]
    return EmailMultiAlternatives(
        subject=f"[{page.title}] {message.title}",
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.target],
        headers={"List-Unsubscribe": f"<{leave}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def _smtp_failure(exc: Exception) -> Failure:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Failure(f"SMTP refused the recipient: {exc.recipients}", not all(c >= 500 for c in codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        return Failure(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", exc.smtp_code < 500)
    if isinstance(exc, (smtplib.SMTPException, OSError)):
        return Failure(f"{exc.__class__.__name__}: {exc}", True)
    return Failure(f"{exc.__class__.__name__}: {exc}", False)


def send_emails(deliveries: list[SubscriberDelivery]) -> list[Failure | None]:
    """Send over one SMTP session; a session that breaks is reopened for the rest."""
    outcomes: list[Failure | None] = []
    mail = get_connection(fail_silently=False)
    try:
        for delivery in deliveries:
            try:
                mail.open()  # once per session: send_messages() closes a session it opened itself
                message = email_for(delivery)
                message.connection = mail
                message.send(fail_silently=False)
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001 — one refused address must not fail the rest
                outcomes.append(_smtp_failure(exc))
                if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
                    mail.close()  # the next send opens a fresh session
    finally:
        try:
            mail.close()
        except Exception:  # a session that is already gone
            log.debug("smtp_close_failed", exc_info=True)
    return outcomes


def send_webhook(delivery: SubscriberDelivery) -> Failure | None:
    """POST the JSON body through the outbound guard (``notifiers.base.post``)."""
    assert delivery.message is not None  # webhooks are never asked to confirm
    body = json.dumps(payload(delivery.message), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PulseGuard-Event": delivery.message.event,
        "X-PulseGuard-Delivery": f"subscriber-{delivery.pk}",
    }
    try:
        post(delivery.subscriber.target, data=body, headers=headers)
    except NotifyError as exc:
        return Failure(str(exc) or exc.__class__.__name__, exc.retryable)
    return None


def send_share(deliveries: list[SubscriberDelivery]) -> list[Failure | None]:
    """One thread's share of a batch (network only): e-mails over one session, then webhooks."""
    emails = [d for d in deliveries if d.subscriber.kind == SubscriberKind.EMAIL]
    outcomes = dict(zip((d.pk for d in emails), send_emails(emails), strict=True)) if emails else {}
    for delivery in deliveries:
        if delivery.subscriber.kind == SubscriberKind.WEBHOOK:
            outcomes[delivery.pk] = send_webhook(delivery)
    return [outcomes[d.pk] for d in deliveries]


def record(outcomes: Iterable[tuple[SubscriberDelivery, Failure | None]], now: datetime | None = None) -> int:
    """Step 3's bookkeeping: sent rows in one UPDATE, each failure on its own; how many were sent."""
    now = now or timezone.now()
    sent: dict[datetime | None, list[int]] = {}
    count = 0
    for delivery, failure in outcomes:
        if failure is None:
            sent.setdefault(delivery.claimed_until, []).append(delivery.pk)
            continue
        fields: dict[str, object] = {"claimed_until": None, "last_error": failure.error[:2000]}
        if failure.retryable and delivery.attempts < settings.NOTIFICATION_MAX_ATTEMPTS:
            fields["next_attempt_at"] = now + backoff(delivery.attempts)
        else:
            fields["status"] = DeliveryStatus.FAILED
        SubscriberDelivery.objects.filter(pk=delivery.pk, claimed_until=delivery.claimed_until).update(**fields)
        log.warning(
            "subscriber_delivery_failed delivery_id=%s attempt=%s error=%r",
            delivery.pk,
            delivery.attempts,
            failure.error,
        )
    for until, ids in sent.items():
        count += SubscriberDelivery.objects.filter(pk__in=ids, claimed_until=until).update(
            status=DeliveryStatus.SENT, delivered_at=now, claimed_until=None
        )
    return count


def _give_up(deliveries: list[SubscriberDelivery]) -> list[SubscriberDelivery]:
    """Rows whose last attempt never finished and have no attempts left fail without a resend."""
    spent = [d for d in deliveries if d.attempts > settings.NOTIFICATION_MAX_ATTEMPTS]
    if spent:
        SubscriberDelivery.objects.filter(pk__in=[d.pk for d in spent]).update(
            status=DeliveryStatus.FAILED, claimed_until=None, last_error="gave up: the last attempt did not finish"
        )
    return [d for d in deliveries if d.attempts <= settings.NOTIFICATION_MAX_ATTEMPTS]


def send_subscriber_messages(
    limit: int = 100_000, *, now: datetime | None = None, budget_seconds: float | None = None
) -> int:
    """One sender step of the subscribers' lane: fan out, then claim and send batches until
    nothing is due, ``limit`` rows were handled, or ``budget_seconds`` have passed; how many sent."""
    started = time.monotonic()
    threads = settings.SUBSCRIBER_CONCURRENCY
    sent = handled = 0
    fan_out(now)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="subscriber-sender") as pool:
        while handled < limit:
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                break
            batch = _give_up(claim(now or timezone.now(), min(BATCH, limit - handled)))
            if not batch:
                break
            handled += len(batch)
            # One subscriber's messages all in one share, in order: a recovery never overtakes its DOWN.
            by_thread = [[d for d in batch if d.subscriber_id % threads == i] for i in range(threads)]
            shares = [share for share in by_thread if share]
            results = list(pool.map(send_share, shares))
            sent += record(
                ((d, outcome) for share, outcomes in zip(shares, results, strict=True)
                 for d, outcome in zip(share, outcomes, strict=True)),
                now,
            )  # fmt: skip
    return sent
