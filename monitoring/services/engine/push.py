"""Push (heartbeat) monitors: a push is a result like a probe's (SPEC §11).

``record_push()`` turns one call of a push URL into a ``ProbeOutcome`` and records it as a
batch of one through ``services.engine.recording`` — the same state machine, alerts and live feeds
as a probe — moving the server's push deadline in that same short transaction. Missed
deadlines are the scheduler's push step (``tasks.push``).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import Server
from monitoring.models.servers import new_push_token
from monitoring.services.engine.recording import CheckRecord, CheckResult, record
from monitoring.services.engine.transitions import ProbeOutcome

MAX_MESSAGE = 500


def push_outcome(*, up: bool, msg: str = "", ping: float | None = None) -> ProbeOutcome:
    """``success`` for up, ``failure`` (with ``msg`` as the error) for down; ``ping`` is the response time."""
    if up:
        return ProbeOutcome(PingStatus.SUCCESS, response_time=ping)
    return ProbeOutcome(PingStatus.FAILURE, response_time=ping, error_message=msg[:MAX_MESSAGE] or "pushed down")


def record_push(
    server: Server, *, up: bool = True, msg: str = "", ping: float | None = None, now: datetime | None = None
) -> CheckRecord | None:
    """Record one push at ``now``, moving the deadline on (``Server.next_push_deadline``); None
    when the server was deleted meanwhile."""
    now = now or timezone.now()
    result = CheckResult(
        server, push_outcome(up=up, msg=msg, ping=ping), now, push_deadline_at=server.next_push_deadline(now)
    )
    records = record([result])
    return records[0] if records else None


def missed_outcome(server: Server) -> ProbeOutcome:
    """What a missed deadline records: a ``timeout`` saying how long the silence allowed was."""
    return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no push within {server.push_window} s")


def rotate_token(server: Server) -> str:
    """Give ``server`` a new push token; the old one is unknown from this moment."""
    server.push_token = new_push_token()
    Server.objects.filter(pk=server.pk).update(push_token=server.push_token)
    return server.push_token
