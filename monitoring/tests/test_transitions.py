"""The status state machine, tested without a database."""

from __future__ import annotations

import pytest

from monitoring.choices import Status
from monitoring.services.transitions import next_status


def step(
    previous: str,
    ok: bool,
    *,
    failures: int = 0,
    retries: int = 1,
    rt: float | None = 50.0,
    threshold: int | None = None,
):
    return next_status(
        previous,
        ok=ok,
        response_time=rt,
        consecutive_failures=failures,
        retries=retries,
        degraded_threshold_ms=threshold,
        error="" if ok else "boom",
    )


def test_first_success_of_unknown_server_is_a_change_to_up():
    t = step(Status.UNKNOWN, True)
    assert (t.status, t.changed, t.consecutive_failures) == (Status.UP, True, 0)


def test_success_when_up_is_not_a_change():
    assert step(Status.UP, True).changed is False


def test_one_failure_with_retries_1_is_down():
    t = step(Status.UP, False, retries=1)
    assert (t.status, t.changed, t.consecutive_failures, t.message) == (Status.DOWN, True, 1, "boom")


def test_retries_0_counts_as_1():
    assert step(Status.UP, False, retries=0).status == Status.DOWN


def test_failures_below_retries_keep_previous_status_and_say_so():
    t = step(Status.UP, False, failures=0, retries=3)
    assert (t.status, t.changed, t.consecutive_failures) == (Status.UP, False, 1)
    assert t.message.startswith("failing (1 of 3)")
    t = step(Status.UP, False, failures=1, retries=3)
    assert t.message.startswith("failing (2 of 3)")


def test_third_failure_of_three_is_down():
    t = step(Status.UP, False, failures=2, retries=3)
    assert (t.status, t.changed) == (Status.DOWN, True)


def test_further_failures_when_down_are_not_changes():
    t = step(Status.DOWN, False, failures=5, retries=3)
    assert (t.status, t.changed, t.consecutive_failures) == (Status.DOWN, False, 6)


def test_success_after_down_resets_failures_and_recovers():
    t = step(Status.DOWN, True, failures=4)
    assert (t.status, t.changed, t.consecutive_failures) == (Status.UP, True, 0)


@pytest.mark.parametrize(("rt", "expected"), [(150.0, Status.DEGRADED), (100.0, Status.UP), (None, Status.UP)])
def test_slow_success_is_degraded(rt, expected):
    assert step(Status.UP, True, rt=rt, threshold=100).status == expected


def test_unknown_server_failing_below_retries_stays_unknown():
    t = step(Status.UNKNOWN, False, retries=2)
    assert (t.status, t.changed) == (Status.UNKNOWN, False)
