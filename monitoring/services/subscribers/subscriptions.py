"""Subscribing, confirming and unsubscribing, with signed links.

A link carries ``signing.dumps([subscriber id, token, action])``: the signature makes it
unforgeable, the row's random token ties it to that one subscription (a link stops working
once its subscription is gone, even if the same address subscribes again).
"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core.links import absolute_url
from monitoring.choices import DeliveryStatus, SubscriberKind
from monitoring.models import StatusPage, Subscriber, SubscriberDelivery

SALT = "pulseguard.statuspage.subscriber"
CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
# A confirmation link is good for a week; an unsubscribe link as long as the subscription.
CONFIRM_MAX_AGE = timedelta(days=7)


def link_token(subscriber: Subscriber, action: str) -> str:
    return signing.dumps([subscriber.pk, subscriber.token, action], salt=SALT, compress=True)


def link(subscriber: Subscriber, action: str) -> str:
    """The absolute confirm or unsubscribe link of ``subscriber`` (under PUBLIC_URL)."""
    name = "status-subscriber-confirm" if action == CONFIRM else "status-subscriber-unsubscribe"
    return absolute_url(reverse(name, args=[link_token(subscriber, action)]))


def from_token(token: str, action: str) -> Subscriber | None:
    """The subscriber a link names, if the link is genuine, current and for ``action``."""
    max_age = CONFIRM_MAX_AGE if action == CONFIRM else None
    try:
        pk, secret, signed_action = signing.loads(token, salt=SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if signed_action != action:
        return None
    return Subscriber.objects.select_related("page").filter(pk=pk, token=secret).first()


def subscribe(page: StatusPage, kind: str, target: str) -> Subscriber:
    """Subscribe ``target`` to ``page``: a webhook is active at once; an e-mail address gets a
    confirmation message (queued), again on each repeat until it confirms. Subscribing twice
    changes nothing else, so the answer never tells whether an address was subscribed."""
    if kind == SubscriberKind.EMAIL:
        target = target.strip().lower()
    now = timezone.now()
    try:
        with transaction.atomic():
            subscriber, created = Subscriber.objects.get_or_create(
                page=page,
                kind=kind,
                target=target,
                defaults={"confirmed_at": now if kind == SubscriberKind.WEBHOOK else None},
            )
    except IntegrityError:  # another request subscribed it at the same moment
        return Subscriber.objects.get(page=page, kind=kind, target=target)
    if kind == SubscriberKind.EMAIL and subscriber.confirmed_at is None:
        # A confirmation request: a delivery with no message. Unconfirmed and unsent ones are
        # not repeated (one waiting request is enough).
        waiting = SubscriberDelivery.objects.filter(subscriber=subscriber, message=None, status=DeliveryStatus.PENDING)
        if not waiting.exists():
            SubscriberDelivery.objects.create(subscriber=subscriber, message=None)
    return subscriber


def confirm(subscriber: Subscriber) -> None:
    if subscriber.confirmed_at is None:
        Subscriber.objects.filter(pk=subscriber.pk, confirmed_at=None).update(confirmed_at=timezone.now())
        subscriber.confirmed_at = timezone.now()


def unsubscribe(subscriber: Subscriber) -> None:
    """Gone, with whatever was still to be sent to it."""
    subscriber.delete()
