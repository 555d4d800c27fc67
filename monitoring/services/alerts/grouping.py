"""Flood control (SPEC §18): many servers of one team down at once make one alert per destination.

Rows stay as §7 wants them: every (change, config) has its delivery row, written with its
change by ``services.alerts.rules``, which holds the DOWNs of teams that could flood for
ALERT_GROUP_HOLD_SECONDS. Grouping happens when a sender claims a due DOWN (``gather``, called
by ``delivery.claim`` in the claim's transaction):

1. If more than ALERT_GROUP_THRESHOLD servers of its team went DOWN within
   ALERT_GROUP_WINDOW_SECONDS of its change, the claimed row becomes the *lead* of a group: it
   takes every other DOWN to the same config that
   nobody has tried yet and nobody holds (SKIP LOCKED), marks them ``grouped`` with
   ``group`` = the lead, and points the lead at itself. The claim and the grouping commit
   together, so a sender that dies after it leaves a lead whose lease lapses; the next sender
   re-claims it and finds the same members (only a first attempt gathers, so retries send the
   same message).
2. A recovery whose DOWN went out in a group gathers the same way every untried recovery to
   its destination whose DOWN went out in a group: one grouped recovery.
3. Only the lead is ever due; the members take its outcome when it is recorded
   (``conclude_members``, in the transaction of the lead's outcome): ``delivered_at`` when it
   was sent (they stay ``grouped``: "sent as part of group #lead"), or its failure.

So each alert goes out exactly once, inside one message per destination, as long as one sender
gathers; two senders claiming the same flood at the same moment may each send a group (the
SKIP LOCKED keeps them from waiting on each other), never the same alert twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, Status
from monitoring.models import NotificationDelivery, StatusChange

log = logging.getLogger(__name__)

GROUPABLE = (AlertEvent.DOWN, AlertEvent.RECOVERY)


class Floods:
    """Which teams are flooding, asked once per team per claim (one query each)."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, datetime], bool] = {}

    def flooding(self, team_id: int, since: datetime) -> bool:
        key = (team_id, since)
        if key not in self.known:
            servers = (
                StatusChange.objects.filter(server__team_id=team_id, status=Status.DOWN, changed_at__gte=since)
                .order_by()
                .values("server_id")
                .distinct()
                .count()
            )
            self.known[key] = servers > settings.ALERT_GROUP_THRESHOLD
        return self.known[key]


def _untried() -> Q:
    """Rows no sender has touched: the only ones a group may take."""
    return Q(status=DeliveryStatus.PENDING, attempts=0, claimed_until__isnull=True, group__isnull=True)


def _same_destination(delivery: NotificationDelivery) -> Q:
    """The same team config (SPEC §18: one config serves many servers) and the same event."""
    return Q(config_id=delivery.config_id, event=delivery.event)


def _grouped_down() -> Exists:
    """The recovery's DOWN (same config, same outage) went out in a group."""
    return Exists(
        NotificationDelivery.objects.filter(
            config_id=OuterRef("config_id"),
            incident_id=OuterRef("incident_id"),
            event=AlertEvent.DOWN,
            group__isnull=False,
        )
    )


def gather(delivery: NotificationDelivery, floods: Floods) -> None:
    """Make the just-claimed ``delivery`` the lead of a group if it should be one (steps 1 and 2),
    and attach its members (``delivery.members``) for the notifier. Call in the claim's transaction."""
    if delivery.group_id is None and delivery.attempts == 1 and delivery.event in GROUPABLE and delivery.change_id:
        if delivery.event == AlertEvent.DOWN:
            window = timedelta(seconds=settings.ALERT_GROUP_WINDOW_SECONDS)
            wanted = floods.flooding(delivery.change.server.team_id, delivery.change.changed_at - window)
            others = Q()
        else:
            wanted = (
                NotificationDelivery.objects.filter(pk=delivery.pk).filter(_grouped_down()).exists()
                if delivery.incident_id
                else False
            )
            others = Q(_grouped_down())
        if wanted:
            _take_members(delivery, others)
    if delivery.group_id == delivery.pk:
        delivery.members = list(
            NotificationDelivery.objects.filter(group_id=delivery.pk)
            .select_related("config", "change__server", "incident")
            .order_by("change__server__name", "id")
        )


def _take_members(lead: NotificationDelivery, others: Q) -> None:
    """Step 1's UPDATE: the lead and the untried rows to its destination, one statement after the lock."""
    ids = list(
        NotificationDelivery.objects.filter(_untried(), _same_destination(lead), others)
        .exclude(pk=lead.pk)
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)
    )
    if not ids:
        return  # alone: sent as usual
    NotificationDelivery.objects.filter(pk__in=[lead.pk, *ids]).update(
        group_id=lead.pk,
        status=Case(When(pk=lead.pk, then=Value(DeliveryStatus.PENDING)), default=Value(DeliveryStatus.GROUPED)),
    )
    lead.group_id = lead.pk
    log.info("alert_group delivery_id=%s event=%s members=%s", lead.pk, lead.event, len(ids) + 1)


def wait_for_held(now: datetime | None = None, *, sleep: Callable[[float], None] = time.sleep) -> float:
    """Sleep until the DOWNs held for flood control (due within ALERT_GROUP_HOLD_SECONDS) are due;
    the seconds slept. ``check_servers`` calls it before its last send, so that under cron the
    alerts its pass queued go out in that pass, grouped, not a cron interval later (SPEC §22)."""
    now = now or timezone.now()
    hold = settings.ALERT_GROUP_HOLD_SECONDS
    if not hold:
        return 0.0
    latest = (
        NotificationDelivery.objects.filter(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at__gt=now,
            next_attempt_at__lte=now + timedelta(seconds=hold),
        )
        .order_by("-next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if latest is None:
        return 0.0
    pause = min((latest - now).total_seconds(), float(hold))
    sleep(pause)
    return pause


def conclude_members(lead: NotificationDelivery, status: str, error: str, now: datetime) -> int:
    """Step 3: the members of ``lead`` take its final outcome; call in the transaction that records it."""
    members = NotificationDelivery.objects.filter(group_id=lead.pk, status=DeliveryStatus.GROUPED).exclude(pk=lead.pk)
    if status == DeliveryStatus.SENT:
        return members.update(delivered_at=now)
    return members.update(status=status, last_error=f"{error} (in group alert #{lead.pk})"[:2000])
