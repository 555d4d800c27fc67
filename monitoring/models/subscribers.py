"""Who hears from a status page, what it told them, and each message on its way (SPEC §21).

A ``PageMessage`` is written once per event (a post, a maintenance start, an automatic DOWN …),
in the transaction of what caused it, unique on its ``dedupe_key`` so the same event never
makes two. A sender later fans it out: one ``SubscriberDelivery`` per confirmed subscriber,
unique on (message, subscriber), then claimed with a lease and sent like an alert (§7)
by ``services.subscribers.sending``. Fanning out there, not in the writer's transaction,
keeps a page with 10,000 subscribers from holding the check engine's transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.choices import DeliveryStatus, PageEvent, SubscriberKind
from monitoring.models.base import OwnedQuerySet


def new_token() -> str:
    return secrets.token_urlsafe(24)


class SubscriberQuerySet(OwnedQuerySet):
    team_lookup = "page__team"

    def confirmed(self) -> SubscriberQuerySet:
        return self.filter(confirmed_at__isnull=False)


class Subscriber(models.Model):
    """One e-mail address (confirmed by a link) or webhook URL (active at once) of one page."""

    page = models.ForeignKey("monitoring.StatusPage", on_delete=models.CASCADE, related_name="subscribers")
    kind = models.CharField(max_length=10, choices=SubscriberKind.choices)
    # The address or URL; e-mail addresses stored lower-case, so one address subscribes once.
    target = models.CharField(max_length=500)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # In the signed confirm and unsubscribe links: a link outlives neither its subscription
    # nor a re-subscription (a new row, a new token).
    token = models.CharField(max_length=64, default=new_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["page_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["page", "kind", "target"], name="subscriber_once_per_page"),
        ]
        indexes = [
            # Fan-out: a page's confirmed subscribers; subscriber_count.
            models.Index(fields=["page", "confirmed_at"], name="subscriber_page_confirmed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


class PageMessage(models.Model):
    """One event a page tells its subscribers, as it will be worded; fanned out once."""

    page = models.ForeignKey("monitoring.StatusPage", on_delete=models.CASCADE, related_name="messages")
    event = models.CharField(max_length=24, choices=PageEvent.choices)
    title = models.CharField(max_length=300)
    status = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True)
    impact = models.CharField(max_length=20, blank=True)
    time = models.DateTimeField()
    # "maintenance_start:<window>:<start>", "down:<change>" …: two processes that see the same
    # event insert one row between them.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    # Set once its deliveries exist; the fan-out's "what is left to do?".
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "dedupe_key"], condition=Q(dedupe_key__isnull=False), name="pagemessage_once_per_key"
            ),
        ]
        indexes = [
            # sending.fan_out(): messages not yet fanned out.
            models.Index(
                fields=["created_at"], condition=Q(fanned_out_at__isnull=True), name="pagemessage_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event}: {self.title}"


class SubscriberDeliveryQuerySet(models.QuerySet["SubscriberDelivery"]):
    def due(self, now: datetime) -> SubscriberDeliveryQuerySet:
        """Pending, due, and held by no live lease (served by subscriberdelivery_due_idx)."""
        return self.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now,
        )


class SubscriberDelivery(models.Model):
    """One message (or a confirmation request, ``message`` null) to one subscriber.

    The lease, attempts and backoff of ``NotificationDelivery`` (SPEC §7): a sender claims it
    (``claimed_until``), sends outside any transaction, then records ``delivered_at`` or the next
    attempt. Deleting the subscriber (unsubscribing) deletes what was still to be sent.
    """

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    message = models.ForeignKey(PageMessage, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriberDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "subscriber deliveries"
        constraints = [
            models.UniqueConstraint(fields=["message", "subscriber"], name="subscriberdelivery_once"),
        ]
        indexes = [
            # SubscriberDelivery.objects.due(now): the subscriber sender's claim.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status=DeliveryStatus.PENDING),
                name="subscriberdelivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id or 'confirm'} → {self.subscriber_id} ({self.status})"
