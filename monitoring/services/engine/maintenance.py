"""Which maintenance window covers which server, and when (SPEC §12).

``services.engine.recording`` asks ``windows_for()`` once per batch and ``active_window()`` per result,
so a check in a window is judged by ``transitions.evaluate`` with the window as an input. The
scheduler's maintenance step (``tasks.maintenance``) asks ``servers_entering()`` which servers a
window covers now that are not yet in maintenance, and records a ``WindowStart`` for each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitoring.choices import Status
from monitoring.models import MaintenanceWindow, Server

Through = MaintenanceWindow.servers.through


def windows_for(servers: Iterable[Server]) -> dict[int, list[MaintenanceWindow]]:
    """The enabled windows that reach each of ``servers`` (by id or by tag), keyed by server id.

    One query for the teams' enabled windows, and one more for their server links only when
    there are windows: a batch of servers whose teams have none costs a single query.
    """
    servers = list(servers)
    teams = {s.team_id for s in servers}
    windows = list(MaintenanceWindow.objects.filter(team_id__in=teams, enabled=True))
    if not windows:
        return {}
    ids = [s.pk for s in servers]
    linked: dict[int, set[int]] = defaultdict(set)
    for window_id, server_id in Through.objects.filter(
        maintenancewindow_id__in=[w.pk for w in windows], server_id__in=ids
    ).values_list("maintenancewindow_id", "server_id"):
        linked[window_id].add(server_id)
    found: dict[int, list[MaintenanceWindow]] = {}
    for server in servers:
        reaching = [
            w for w in windows if w.team_id == server.team_id and w.covers(server.pk, server.tags, linked[w.pk])
        ]
        if reaching:
            found[server.pk] = reaching
    return found


def active_window(windows: Sequence[MaintenanceWindow], when: datetime) -> MaintenanceWindow | None:
    """The first of ``windows`` active at ``when``."""
    return next((w for w in windows if w.is_active_at(when)), None)


def servers_entering(now: datetime) -> list[tuple[Server, MaintenanceWindow]]:
    """Active servers that a window covers at ``now`` and that are not in maintenance (or paused) yet.

    1. Read every enabled window and keep those active now (recurrences judged in Python).
    2. Collect their servers by link and by tag, among their teams' active servers.
    """
    active = [w for w in MaintenanceWindow.objects.filter(enabled=True) if w.is_active_at(now)]
    if not active:
        return []
    linked: dict[int, set[int]] = defaultdict(set)
    for window_id, server_id in Through.objects.filter(maintenancewindow_id__in=[w.pk for w in active]).values_list(
        "maintenancewindow_id", "server_id"
    ):
        linked[window_id].add(server_id)
    candidates = (
        Server.objects.filter(team_id__in={w.team_id for w in active}, is_active=True)
        .exclude(status__in=[Status.MAINTENANCE, Status.PAUSED])
        .order_by("id")
    )
    entering = []
    for server in candidates:
        window = next(
            (w for w in active if w.team_id == server.team_id and w.covers(server.pk, server.tags, linked[w.pk])),
            None,
        )
        if window is not None:
            entering.append((server, window))
    return entering
