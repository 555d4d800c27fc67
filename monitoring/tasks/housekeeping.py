"""Housekeeping: every slow step once, so that cron alone does the whole job (SPEC §22).

``manage.py check_servers`` calls ``run_all()`` after its checks: a crontab with only that
command every minute still records missed push deadlines and maintenance windows starting,
marks offline the probe locations whose agents fell silent (SPEC §20), sends the alerts
that are due (retries included), rolls up finished hours and prunes raw rows
once a day, and escalates open incidents whose next step or reminder is due (SPEC §18).
A window's end needs no step: each server's next check leaves it (SPEC §12).

The scheduler runs the same steps as APScheduler jobs, each at its own pace
(``tasks.scheduler``). Every step is idempotent and safe beside another process doing the same
(claims, row locks, upserts), and a step that fails is logged without stopping the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from monitoring.services.alerts.delivery import send_pending
from monitoring.services.alerts.escalation import escalation_step
from monitoring.services.locations.status import went_offline
from monitoring.services.subscribers.sending import send_subscriber_messages
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tasks.push import push_step
from monitoring.tasks.rollups import prune_step, rollup_step

log = logging.getLogger(__name__)

SEND_LIMIT = 100_000  # one run sends everything that is due, as check_servers always did
SUBSCRIBER_BUDGET_SECONDS = 30.0  # status page messages per run; the rest go at the next minute


@dataclass
class Housekeeping:
    """What one run did, step by step."""

    missed_pushes: int = 0
    entered_maintenance: int = 0
    locations_offline: int = 0
    escalated: int = 0
    sent: int = 0
    hours_rolled_up: int = 0
    pruned: int = 0
    subscriber_messages: int = 0
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        line = (
            f"Housekeeping: {self.missed_pushes} missed push(es), {self.entered_maintenance} server(s) into "
            f"maintenance, {self.locations_offline} location(s) offline, {self.escalated} incident(s) escalated. "
            f"Sent {self.sent} notification(s), {self.subscriber_messages} subscriber message(s). "
            f"{self.hours_rolled_up} hour(s) rolled up, "
            f"{self.pruned} old result(s) pruned."
        )
        return line + (f" Steps failed: {', '.join(self.failed)}." if self.failed else "")


def run_all(now: datetime | None = None) -> Housekeeping:
    """Run each slow step once: the alerts go out after the steps that queue them and before
    the history steps, which may take a while (the first pruning of a large backlog)."""
    now = now or timezone.now()
    done = Housekeeping()

    def step(name: str, run: Callable[[], int]) -> int:
        try:
            return run()
        except Exception:
            log.exception("housekeeping_step_failed step=%s", name)
            done.failed.append(name)
            return 0

    done.missed_pushes = step("push-deadlines", lambda: len(push_step(now)))
    done.entered_maintenance = step("maintenance", lambda: len(maintenance_step(now)))
    done.locations_offline = step("locations", lambda: len(went_offline(now)))
    done.escalated = step("escalation", lambda: escalation_step(now))
    done.sent = step("notifications", lambda: send_pending(limit=SEND_LIMIT, now=now))
    # After the alerts, and bounded in time: a minute's crontab must not pile up behind 10,000 e-mails.
    done.subscriber_messages = step(
        "subscribers", lambda: send_subscriber_messages(now=now, budget_seconds=SUBSCRIBER_BUDGET_SECONDS)
    )
    done.hours_rolled_up = step("rollups", lambda: rollup_step(now))
    done.pruned = step("prune", lambda: prune_step(now))
    return done
