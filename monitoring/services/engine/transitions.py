"""The status state machine: one pure function, no database (SPEC §6, STYLE "one evaluate").

Every source of a result — a probe, a push, a missed push deadline, "check now" — becomes a
``ProbeOutcome``; a maintenance window starting for a server with no check is a
``WindowStart``; pausing, resuming and an edit that reschedules are ``Pause``, ``Resume`` and
``Reschedule``. All go through ``evaluate()``, with whether a maintenance window covers the
server at that instant as one more input; ``services.engine.recording`` writes what it decides (and,
for the last three, the schedule and ``is_active`` that go with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitoring.choices import PingStatus, Status

#: A result that lands while the server is in one of these keeps that status (and its count).
#: MAINTENANCE is not one: it lasts exactly as long as a window covers the server (rule 2).
HELD_STATUSES = frozenset({Status.PAUSED})


@dataclass(frozen=True)
class ProbeOutcome:
    """What one check saw: the input of ``evaluate()`` and the PingResult to store."""

    status: str  # a PingStatus value
    response_time: float | None = None
    status_code: int | None = None
    error_message: str = ""
    value: float | None = None  # a push's number (SPEC §19), kept with its PingResult
    # Kept with the PingResult: what the check saw beyond its status (a dns check's answers).
    detail: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == PingStatus.SUCCESS


@dataclass(frozen=True)
class WindowStart:
    """A maintenance window began for a server and no check ran (the scheduler's maintenance
    step): an input of ``evaluate()`` with no PingResult to store (SPEC §12)."""


@dataclass(frozen=True)
class Pause:
    """Checking stopped (``is_active`` set to false): PAUSED, its failures forgotten."""


@dataclass(frozen=True)
class Resume:
    """Checking started again: UNKNOWN until the check, which is due at once."""


@dataclass(frozen=True)
class Reschedule:
    """What or how often it checks was edited: due at once, its status unchanged until then."""


#: Outcomes that are no check: no PingResult is stored for them.
Event = WindowStart | Pause | Resume | Reschedule
Outcome = ProbeOutcome | Event


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


def evaluate(
    state: State,
    outcome: Outcome,
    policy: Policy,
    now: datetime | None = None,
    *,
    maintenance: str | None = None,
) -> Transition:
    """Decide a server's state after one outcome.

    ``maintenance`` is the name of a maintenance window covering the server at ``now`` (the
    outcome's time), None when none does.

    0. ``Pause`` makes it PAUSED; ``Resume`` makes a paused server UNKNOWN; a ``Reschedule``
       changes no status. Each is a transition only when the status changes (pausing twice is none).
    1. A held status (paused) stays as it is, failures uncounted.
    2. Inside a window the status is MAINTENANCE whatever was seen, failures uncounted.
    3. A ``WindowStart`` outside a window (it ended before it was recorded) changes nothing.
    4. The first outcome after a window is judged as if the server were UNKNOWN with no
       failures; its status differs from MAINTENANCE, so it is always a transition.
    5. A success resets the failure count; it is DEGRADED when slower than the
       threshold, else UP.
    6. A failure adds one; it is DOWN once the count reaches ``retries`` (0 counts as 1).
    7. Below that the previous status stays and the message says "failing (n of r)".
    """
    del now  # windows are judged by the caller at ``now``; no rule here reads the clock
    if isinstance(outcome, Pause):
        if state.status == Status.PAUSED:
            return Transition(state.status, state.consecutive_failures, state.message, False)
        return Transition(Status.PAUSED, 0, "paused", True)
    if isinstance(outcome, Resume):
        if state.status != Status.PAUSED:
            return Transition(state.status, state.consecutive_failures, state.message, False)
        return Transition(Status.UNKNOWN, 0, "resumed, waiting for a check", True)
    if isinstance(outcome, Reschedule):
        return Transition(state.status, state.consecutive_failures, state.message, False)
    if state.status in HELD_STATUSES:
        return Transition(state.status, state.consecutive_failures, state.message, False)
    if maintenance is not None:
        message = f"maintenance: {maintenance}" if maintenance else "maintenance"
        return Transition(Status.MAINTENANCE, 0, message, state.status != Status.MAINTENANCE)
    if isinstance(outcome, WindowStart):
        return Transition(state.status, state.consecutive_failures, state.message, False)
    if state.status == Status.MAINTENANCE:
        step = evaluate(State(Status.UNKNOWN), outcome, policy)
        return Transition(step.status, step.consecutive_failures, step.message, True)
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
