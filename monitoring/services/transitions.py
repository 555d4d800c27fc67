"""The status state machine: one pure function, no database (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.choices import Status


@dataclass(frozen=True)
class Transition:
    status: str
    consecutive_failures: int
    message: str
    changed: bool


def next_status(
    previous: str,
    *,
    ok: bool,
    response_time: float | None,
    consecutive_failures: int,
    retries: int,
    degraded_threshold_ms: int | None,
    error: str = "",
) -> Transition:
    """Decide a server's status after one check.

    1. A success resets the failure count; it is DEGRADED when slower than the
       threshold, else UP.
    2. A failure adds one; it is DOWN once the count reaches ``retries`` (0 counts as 1).
    3. Below that the previous status stays and the message says "failing (n of r)".
    """
    if ok:
        slow = degraded_threshold_ms is not None and response_time is not None and response_time > degraded_threshold_ms
        if slow:
            new, message = Status.DEGRADED, f"slow: {response_time:.0f} ms > {degraded_threshold_ms} ms"
        else:
            new, message = Status.UP, ""
        return Transition(new, 0, message, new != previous)

    failures = consecutive_failures + 1
    needed = max(retries, 1)
    if failures >= needed:
        return Transition(Status.DOWN, failures, error, previous != Status.DOWN)
    message = f"failing ({failures} of {needed})"
    if error:
        message = f"{message}: {error}"
    return Transition(previous, failures, message, False)
