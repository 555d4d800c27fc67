"""The status state machine: one pure function, no database (SPEC §6, STYLE "one evaluate").

Every source of a result — a probe today; a push, a missed push deadline or "check now"
tomorrow — becomes an ``Outcome`` and goes through ``evaluate()``; ``services.recording``
writes what it decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitoring.choices import PingStatus, Status

#: A result that lands while the server is in one of these keeps that status (and its count).
HELD_STATUSES = frozenset({Status.PAUSED, Status.MAINTENANCE})


@dataclass(frozen=True)
class ProbeOutcome:
    """What one check saw: the input of ``evaluate()`` and the PingResult to store."""

    status: str  # a PingStatus value
    response_time: float | None = None
    status_code: int | None = None
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == PingStatus.SUCCESS


@dataclass(frozen=True)
class State:
    """The part of a server's ServerStatus the state machine reads."""

    status: str
    consecutive_failures: int = 0
    message: str = ""


@dataclass(frozen=True)
class Policy:
    """A server's rules for judging outcomes."""

    retries: int = 1
    degraded_threshold_ms: int | None = None


@dataclass(frozen=True)
class Transition:
    """The new state, and whether its status differs from the old one."""

    status: str
    consecutive_failures: int
    message: str
    changed: bool


def evaluate(state: State, outcome: ProbeOutcome, policy: Policy, now: datetime | None = None) -> Transition:
    """Decide a server's state after one outcome.

    1. A held status (paused, maintenance) stays as it is, failures uncounted.
    2. A success resets the failure count; it is DEGRADED when slower than the
       threshold, else UP.
    3. A failure adds one; it is DOWN once the count reaches ``retries`` (0 counts as 1).
    4. Below that the previous status stays and the message says "failing (n of r)".

    ``now`` is the outcome's time; today's rules do not read it (maintenance windows will).
    """
    del now  # part of the contract for time-dependent rules; none yet
    if state.status in HELD_STATUSES:
        return Transition(state.status, state.consecutive_failures, state.message, False)
    if outcome.ok:
        rt, threshold = outcome.response_time, policy.degraded_threshold_ms
        if threshold is not None and rt is not None and rt > threshold:
            new, message = Status.DEGRADED, f"slow: {rt:.0f} ms > {threshold} ms"
        else:
            new, message = Status.UP, ""
        return Transition(new, 0, message, new != state.status)

    failures = state.consecutive_failures + 1
    needed = max(policy.retries, 1)
    error = outcome.error_message
    if failures >= needed:
        return Transition(Status.DOWN, failures, error, state.status != Status.DOWN)
    message = f"failing ({failures} of {needed})"
    if error:
        message = f"{message}: {error}"
    return Transition(state.status, failures, message, False)
