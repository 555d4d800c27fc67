"""What a probe agent and the central server say to each other about a check (SPEC §20).

``server_fields`` is what an agent needs to probe a server: every plain field of ``Server``
but those only the central server uses (its schedule, status, secrets of its own such as the
badge key and push token). The target's own credentials (``basic_auth_password``, ``dsn``)
are in it — the agent must probe — and go only to an agent of a location the server is checked
from, over the agent API. ``server_from_fields`` builds the unsaved ``Server`` an agent probes:
no database is touched.
"""

from __future__ import annotations

from typing import Any

from monitoring.models import Server

#: Plain fields of Server an agent never needs: the central server's own schedule and state.
CENTRAL_ONLY = frozenset(
    {
        "badge_key",
        "push_token",
        "status",
        "created_at",
        "updated_at",
        "next_check_at",
        "lease_owner",
        "lease_until",
        "push_deadline_at",
        "push_started_at",
        "held_by_dependency",
        "notifications",
        "quorum",
        "retries",
        "degraded_threshold_ms",
        "cert_expiry_alert_days",
        "grace_seconds",
        "schedule",
        "schedule_timezone",
        "tags",
        # The spread a burst of new servers gets applies to the scheduler's own first checks
        # (``Server.burst_spread``); an agent's location has its own schedule, from its row.
        "spread_seconds",
    }
)
PROBE_FIELDS = tuple(
    f.attname
    for f in Server._meta.concrete_fields
    if not f.is_relation and f.attname not in CENTRAL_ONLY and f.attname != "id"
)


def server_fields(server: Server) -> dict[str, Any]:
    """The fields an agent probes ``server`` with, ``id`` first."""
    return {"id": server.pk, **{name: getattr(server, name) for name in PROBE_FIELDS}}


def server_from_fields(fields: dict[str, Any]) -> Server:
    """The unsaved ``Server`` an agent probes (unknown keys, from a newer central server, ignored)."""
    return Server(**{name: fields[name] for name in ("id", *PROBE_FIELDS) if name in fields})
