"""A probe agent's store (SPEC §20): the check engine (``tasks.engine.Engine``) fed by the central
server's agent API instead of the database. It holds nothing but its token and touches no
database: ``manage.py run_agent`` runs with DATABASE_URL pointing nowhere.

- ``claim``: ``POST /api/agent/claim/`` (its leases are the central server's). While the
  central server cannot be reached, the checks of the last claims go on: each is due again at
  the next due time its last check computed, and is run as before, with no lease.
- ``record``: each result gets an idempotency key and joins the buffer (at most ``buffer``
  results: beyond it the oldest are dropped, and one log line says how many once the central
  server answers again); the buffer is sent in order, in batches, with ``POST /api/agent/results/``.
  A result not sent at its first try, or checked with no lease, is sent ``buffered``: the central
  server stores it even though its lease is gone, moving the schedule forward only. A batch
  whose answer never came is sent again with the same keys: stored once.
- ``renew`` and ``release``: ``POST /api/agent/heartbeat/`` with the servers in flight.

Log lines are ``key=value``, as the scheduler's: ``central_unreachable``, ``central_back``,
``agent_buffer_dropped``, ``agent_results``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests
from django.utils.dateparse import parse_datetime

from monitoring.models import Server
from monitoring.services.engine.recording import CheckRecord, CheckResult
from monitoring.services.engine.transitions import ProbeOutcome
from monitoring.services.locations.wire import server_from_fields

log = logging.getLogger(__name__)

#: Results per ``POST /api/agent/results/`` (the central server takes up to 1,000).
SEND_BATCH = 500
#: Seconds an agent API call may take before the central server counts as unreachable.
CALL_TIMEOUT = 30.0
HINT_URL = (
    "Check --url: it must be the central PulseGuard web server's address (as people open it), reachable from here."
)
HINT_TOKEN = (
    "Make a token for this agent's location (its page in the web UI, or POST /api/locations/<slug>/tokens/) "
    "and pass it as --token pga_…"
)


class Unreachable(Exception):
    """The central server did not answer (connection refused, timeout, a 5xx, not PulseGuard)."""


class Refused(Exception):
    """The central server refused the agent (401: token unknown or revoked; 403: not an agent token)."""


class ApiStore:
    def __init__(self, url: str, token: str, *, owner: str, buffer: int) -> None:
        self.base = url.rstrip("/")
        #: This agent process's lease owner (the engine's).
        self.owner = owner
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.buffer_size = buffer
        self.buffer: deque[dict[str, Any]] = deque()
        self.dropped = 0
        #: Called (on the engine's store thread) when the central server refuses the token.
        self.on_refused: Callable[[str], None] | None = None
        self.reachable = True
        #: The servers of the last claims, each with its next due time (``next_check_at``).
        self.known: dict[int, Server] = {}
        #: Of those, the ones claimed and not yet recorded, and the ones claimed while the central
        #: server was unreachable (no lease).
        self.in_flight: set[int] = set()
        self.unleased: set[int] = set()
        self.location: dict[str, str] = {}

    # --- the wire
    def call(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``/api/agent/<name>/``; its JSON answer."""
        url = f"{self.base}/api/agent/{name}/"
        try:
            answer = self.session.post(url, json=body, timeout=CALL_TIMEOUT)
        except requests.RequestException as exc:
            raise Unreachable(f"{url}: {exc.__class__.__name__}: {exc}") from exc
        if answer.status_code in (401, 403):
            raise Refused(f"{url} answered {answer.status_code}: {_detail(answer)}. {HINT_TOKEN}")
        if answer.status_code >= 500 or answer.status_code == 404:
            raise Unreachable(f"{url} answered {answer.status_code}. {HINT_URL}")
        if answer.status_code != 200:
            raise RuntimeError(f"{url} answered {answer.status_code}: {_detail(answer)}")
        try:
            data = answer.json()
        except ValueError as exc:
            raise Unreachable(f"{url} answered something other than JSON: not PulseGuard? {HINT_URL}") from exc
        if not isinstance(data, dict):
            raise Unreachable(f"{url} answered unexpected JSON: not PulseGuard? {HINT_URL}")
        return data

    def heartbeat(self, **body: Any) -> dict[str, Any]:
        data = self.call("heartbeat", body)
        self.location = data.get("location") or self.location
        return data

    def _guarded(self, work: Callable[[], Any]) -> Any:
        """Run one exchange; note the central server going away and coming back (one line each)."""
        try:
            result = work()
        except Unreachable as exc:
            if self.reachable:
                log.warning(
                    "central_unreachable error=%r buffered=%d (checks go on, results kept)", str(exc), len(self.buffer)
                )
            self.reachable = False
            raise
        except Refused as exc:
            log.error("agent_refused error=%r", str(exc))
            if self.on_refused is not None:
                self.on_refused(str(exc))
            raise
        if not self.reachable:
            log.warning("central_back buffered=%d", len(self.buffer))
        self.reachable = True
        return result

    # --- the engine's store
    def claim(self, now: datetime, *, owner: str, limit: int, horizon: float, lease: float) -> list[Server]:
        try:
            self._guarded(self.flush)  # what was kept goes first, in order
            data = self._guarded(lambda: self.call("claim", {"owner": owner, "limit": limit, "horizon": horizon}))
        except Unreachable:
            return self._claim_known(now, limit, horizon)
        except Refused:
            return []
        self.location = data.get("location") or self.location
        claimed = []
        for check in data.get("checks", []):
            server = server_from_fields(check["server"])
            server.next_check_at = _when(check["due_at"])
            if server.pk in self.in_flight:
                # Already running: a check started with no lease while the central server was
                # away, whose result has not reached it yet, so it gave out the same due check
                # again. Not run twice: the check under way now holds this lease, and its result
                # is sent under it.
                self.unleased.discard(server.pk)
                continue
            self.known[server.pk] = copy.copy(server)
            self.in_flight.add(server.pk)
            self.unleased.discard(server.pk)
            claimed.append(server)
        # Checks not claimed again long after they were due went to another agent, or away.
        for pk, known in list(self.known.items()):
            if pk not in self.in_flight and known.next_check_at < now - timedelta(
                seconds=2 * known.check_interval + 60
            ):
                del self.known[pk]
        return claimed

    def _claim_known(self, now: datetime, limit: int, horizon: float) -> list[Server]:
        """The checks of the last claims due by ``now + horizon``, run with no lease meanwhile."""
        due = sorted(
            (
                s
                for s in self.known.values()
                if s.pk not in self.in_flight and s.next_check_at <= now + timedelta(seconds=horizon)
            ),
            key=lambda s: (s.next_check_at, s.pk),
        )[:limit]
        for server in due:
            self.in_flight.add(server.pk)
            self.unleased.add(server.pk)
        return [copy.copy(s) for s in due]

    def record(self, batch: list[CheckResult]) -> list[CheckRecord]:
        """Buffer ``batch`` (each result once, by its key) and send what the buffer holds; never
        raises for an unreachable central server (the results wait in the buffer)."""
        for result in batch:
            self.buffer.append(self._wire(result))
            known = self.known.get(result.server.pk)
            if known is not None and result.next_due_at is not None:
                known.next_check_at = result.next_due_at
            self.in_flight.discard(result.server.pk)
            self.unleased.discard(result.server.pk)
        excess = len(self.buffer) - self.buffer_size
        for _ in range(max(0, excess)):
            self.buffer.popleft()
        self.dropped += max(0, excess)
        if self.reachable:
            with contextlib.suppress(Unreachable, Refused):
                self._guarded(self.flush)
        return []

    def _wire(self, result: CheckResult) -> dict[str, Any]:
        outcome = result.outcome
        assert isinstance(outcome, ProbeOutcome)
        return {
            "key": uuid.uuid4().hex,
            "server_id": result.server.pk,
            "checked_at": result.checked_at.isoformat(),
            "due_at": result.due_at.isoformat() if result.due_at else None,
            "started_at": result.started_at.isoformat() if result.started_at else None,
            "next_due_at": result.next_due_at.isoformat() if result.next_due_at else None,
            "status": outcome.status,
            "response_time": outcome.response_time,
            "status_code": outcome.status_code,
            "error_message": outcome.error_message,
            "value": outcome.value,
            "detail": outcome.detail,
            "buffered": not self.reachable or result.server.pk in self.unleased,
        }

    def flush(self) -> None:
        """Send the buffer, oldest first, in batches; a batch leaves it only once answered."""
        while self.buffer:
            batch = [self.buffer[i] for i in range(min(SEND_BATCH, len(self.buffer)))]
            try:
                answer = self.call("results", {"owner": self.owner, "results": batch})
            except Unreachable:
                for item in self.buffer:
                    item["buffered"] = True  # its lease will be gone when it is sent
                raise
            for _ in batch:
                self.buffer.popleft()
            log.info(
                "agent_results sent=%d stored=%s duplicates=%s dropped=%s buffered=%d",
                len(batch),
                answer.get("stored"),
                answer.get("duplicates"),
                answer.get("dropped"),
                len(self.buffer),
            )
        if self.dropped:
            log.warning(
                "agent_buffer_dropped dropped=%d buffer=%d (the oldest results, beyond the buffer, while the "
                "central server was unreachable; raise AGENT_BUFFER or --buffer to keep more)",
                self.dropped,
                self.buffer_size,
            )
            self.dropped = 0

    def renew(self, owner: str, server_ids: list[int], now: datetime, lease: float) -> None:
        """Extend the leases of the checks in flight (not those run with no lease)."""
        leased = [pk for pk in server_ids if pk not in self.unleased]
        if leased and self.reachable:
            with contextlib.suppress(Unreachable, Refused):
                self._guarded(lambda: self.heartbeat(owner=owner, renew=leased))

    def release(self, owner: str, server_ids: list[int]) -> None:
        """Give back the unstarted claims of a stopping agent (best effort: leases end by themselves)."""
        leased = [pk for pk in server_ids if pk not in self.unleased]
        if leased and self.reachable:
            try:
                self.heartbeat(owner=owner, release=leased)
            except (Unreachable, Refused) as exc:
                log.warning("agent_release_failed error=%r (the leases end by themselves)", str(exc))

    def broken(self) -> None:
        """Nothing to drop: each call stands alone."""

    def close(self) -> None:
        """Send what is left (a last try), then say how much could not be sent."""
        if self.buffer:
            try:
                self.flush()
            except (Unreachable, Refused, RuntimeError) as exc:
                log.warning(
                    "agent_unsent results=%d error=%r (lost: the agent is stopping)", len(self.buffer), str(exc)
                )
        self.session.close()


def _detail(answer: requests.Response) -> str:
    """What an error answer says: its ``detail``, else the start of its body."""
    try:
        data = answer.json()
    except ValueError:
        return answer.text[:200]
    return str(data.get("detail", data) if isinstance(data, dict) else data)[:500]


def _when(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise Unreachable(f"the central server sent {value!r} for a time: not PulseGuard? {HINT_URL}")
    return moment
