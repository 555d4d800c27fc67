"""The status state machine: one pure function, no database (SPEC §6, STYLE "one evaluate").

A server checked from several probe locations (SPEC §20) has a state per location as well:
``State.locations``. An outcome names its location; ``evaluate`` moves that location's state by
the same rules as a one-location server's, then judges the server's by its quorum (rule 8).

Every source of a result — a probe, a push, a missed push deadline, "check now" — becomes a
``ProbeOutcome``; a maintenance window starting for a server with no check is a
``WindowStart``; pausing, resuming and an edit that reschedules are ``Pause``, ``Resume`` and
``Reschedule``. All go through ``evaluate()``, with whether a maintenance window covers the
server at that instant as one more input; ``services.engine.recording`` writes what it decides (and,
for the last three, the schedule and ``is_active`` that go with them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    #: The slug of the location it ran from ("" for a one-location server: its only one).
    location: str = ""

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


@dataclass(frozen=True)
class LocationsChanged:
    """A location of the server went offline or came back (SPEC §20): judged again by quorum."""


#: Outcomes that are no check: no PingResult is stored for them.
Event = WindowStart | Pause | Resume | Reschedule | LocationsChanged
Outcome = ProbeOutcome | Event


@dataclass(frozen=True)
class LocationState:
    """A server's state at one of its locations (a ``ServerLocation``), and whether that
    location counts: an offline location's results count toward no quorum."""

    slug: str
    name: str
    status: str = Status.UNKNOWN
    consecutive_failures: int = 0
    message: str = ""
    online: bool = True


@dataclass(frozen=True)
class State:
    """The part of a server's ServerStatus the state machine reads, and its locations' states
    when it is checked from several (or from an agent's location); empty otherwise."""

    status: str
    consecutive_failures: int = 0
    message: str = ""
    locations: tuple[LocationState, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A server's rules for judging outcomes."""

    retries: int = 1
    degraded_threshold_ms: int | None = None
    #: DOWN once this many locations are DOWN; None: more than half of them (SPEC §20).
    quorum: int | None = None


@dataclass(frozen=True)
class Transition:
    """The new state, and whether its status differs from the old one."""

    status: str
    consecutive_failures: int
    message: str
    changed: bool
    #: The locations' states after the outcome (``State.locations``, moved).
    locations: tuple[LocationState, ...] = ()


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
    8. With ``state.locations`` (SPEC §20), rules 0–4 judge the server, and every location
       starts again from UNKNOWN when it is paused, resumed or in a window. A check moves its own
       location's state by rules 5–7 (a check from a location the server no longer has changes
       nothing); then the server is judged from its online locations (``judge_locations``).
       ``LocationsChanged`` (one went offline or came back) judges it again.
    """
    del now  # windows are judged by the caller at ``now``; no rule here reads the clock
    if not state.locations:
        return _judge(state, outcome, policy, maintenance)
    if isinstance(outcome, LocationsChanged | WindowStart | Pause | Resume | Reschedule) or (
        state.status in HELD_STATUSES or maintenance is not None
    ):
        alone = State(state.status, state.consecutive_failures, state.message)
        step = _judge(alone, outcome, policy, maintenance)
        held = step.status in HELD_STATUSES or step.status == Status.MAINTENANCE
        if isinstance(outcome, LocationsChanged) and not held:
            return _by_quorum(state, state.locations, policy)
        if step.changed or held:  # paused, resumed, or in a window: every location starts again
            locations = tuple(
                replace(loc, status=Status.UNKNOWN, consecutive_failures=0, message="") for loc in state.locations
            )
            return replace(step, locations=locations)
        return replace(step, locations=state.locations)
    index = next((i for i, loc in enumerate(state.locations) if loc.slug == outcome.location), None)
    if index is None:
        return Transition(state.status, state.consecutive_failures, state.message, False, state.locations)
    here = state.locations[index]
    step = _judge(State(here.status, here.consecutive_failures, here.message), outcome, policy, None)
    moved = replace(here, status=step.status, consecutive_failures=step.consecutive_failures, message=step.message)
    locations = (*state.locations[:index], moved, *state.locations[index + 1 :])
    if state.status == Status.MAINTENANCE:  # rule 4: the first check after a window always moves it
        return replace(_by_quorum(State(Status.UNKNOWN), locations, policy), changed=True)
    return _by_quorum(state, locations, policy)


def judge_locations(locations: tuple[LocationState, ...], quorum: int | None) -> tuple[str, int, str]:
    """The server's status, failure count and message from its locations' states (rule 8).

    Only online locations count. None online: UNKNOWN. One location: its own state. Else DOWN
    when at least ``quorum`` of them are DOWN (``quorum`` at most their number; None: more than
    half of all its locations), DEGRADED when fewer are, both with the message "down from N of M
    locations: <names, in the order of locations>"; with none DOWN, DEGRADED when one is slow,
    UP when one is up, UNKNOWN while none has been checked.
    """
    counted = [loc for loc in locations if loc.online]
    if not counted:
        return Status.UNKNOWN, 0, "every location is offline: " + ", ".join(loc.name for loc in locations)
    if len(locations) == 1:
        only = counted[0]
        return only.status, only.consecutive_failures, only.message
    failures = max(loc.consecutive_failures for loc in counted)
    down = [loc for loc in counted if loc.status == Status.DOWN]
    if down:
        needed = min(quorum or len(locations) // 2 + 1, len(counted))
        message = f"down from {len(down)} of {len(counted)} locations: " + ", ".join(loc.name for loc in down)
        return (Status.DOWN if len(down) >= needed else Status.DEGRADED), failures, message
    slow = [loc for loc in counted if loc.status == Status.DEGRADED]
    if slow:
        return Status.DEGRADED, failures, f"{slow[0].name}: {slow[0].message}"
    if any(loc.status == Status.UP for loc in counted):
        return Status.UP, failures, ""
    return Status.UNKNOWN, failures, ""


def _by_quorum(state: State, locations: tuple[LocationState, ...], policy: Policy) -> Transition:
    status, failures, message = judge_locations(locations, policy.quorum)
    return Transition(status, failures, message, status != state.status, locations)


def _judge(state: State, outcome: Outcome, policy: Policy, maintenance: str | None) -> Transition:
    """Rules 0–7: one server, or one location of it."""
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
    if isinstance(outcome, WindowStart | LocationsChanged):
        return Transition(state.status, state.consecutive_failures, state.message, False)
    if state.status == Status.MAINTENANCE:
        step = _judge(State(Status.UNKNOWN), outcome, policy, None)
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
