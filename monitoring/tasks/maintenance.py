"""The scheduler's maintenance step: servers a window has just started to cover enter
maintenance within seconds, not at their next check (SPEC §12).

No claim is needed: ``record`` locks each server's ServerStatus and ``evaluate`` sees a
server already in maintenance as no change, so two scheduler processes doing this at once
write one StatusChange per server.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from monitoring.services.engine.maintenance import servers_entering
from monitoring.services.engine.recording import CheckRecord, CheckResult, record
from monitoring.services.engine.transitions import WindowStart


def maintenance_step(now: datetime | None = None) -> list[CheckRecord]:
    """Record a ``WindowStart`` for every server entering maintenance now; the records that changed."""
    now = now or timezone.now()
    entering = servers_entering(now)
    if not entering:
        return []
    records = record([CheckResult(server, WindowStart(), now) for server, _ in entering])
    return [rec for rec in records if rec.change is not None]
