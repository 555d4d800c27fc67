"""The state machine's maintenance rules (SPEC §12), tested without a database."""

from __future__ import annotations

import pytest

from monitoring.choices import PingStatus, Status
from monitoring.services.engine.transitions import Policy, ProbeOutcome, State, WindowStart, evaluate

UP = ProbeOutcome(PingStatus.SUCCESS, 20.0)
SLOW = ProbeOutcome(PingStatus.SUCCESS, 900.0)
FAIL = ProbeOutcome(PingStatus.FAILURE, error_message="HTTP 500")


@pytest.mark.parametrize("previous", [Status.UP, Status.DOWN, Status.DEGRADED, Status.UNKNOWN])
@pytest.mark.parametrize("outcome", [UP, FAIL, WindowStart()], ids=["up", "fail", "window-start"])
def test_inside_a_window_any_outcome_makes_it_maintenance(previous, outcome):
    t = evaluate(State(previous, 2, "x"), outcome, Policy(retries=3), maintenance="nightly")
    assert (t.status, t.changed, t.consecutive_failures, t.message) == (
        Status.MAINTENANCE,
        True,
        0,
        "maintenance: nightly",
    )


def test_a_failure_inside_a_window_is_no_change_and_is_not_counted():
    t = evaluate(State(Status.MAINTENANCE, 0, "maintenance: nightly"), FAIL, Policy(), maintenance="nightly")
    assert (t.status, t.changed, t.consecutive_failures) == (Status.MAINTENANCE, False, 0)


def test_a_paused_server_stays_paused_inside_a_window():
    t = evaluate(State(Status.PAUSED, 0, "paused"), FAIL, Policy(), maintenance="nightly")
    assert (t.status, t.changed) == (Status.PAUSED, False)


def test_a_window_start_recorded_after_the_window_changes_nothing():
    t = evaluate(State(Status.UP), WindowStart(), Policy())
    assert (t.status, t.changed) == (Status.UP, False)


@pytest.mark.parametrize(
    ("outcome", "retries", "expected"),
    [(UP, 1, Status.UP), (FAIL, 1, Status.DOWN), (FAIL, 3, Status.UNKNOWN), (SLOW, 1, Status.DEGRADED)],
)
def test_the_first_check_after_a_window_is_judged_as_from_unknown(outcome, retries, expected):
    t = evaluate(State(Status.MAINTENANCE), outcome, Policy(retries=retries, degraded_threshold_ms=500))
    assert (t.status, t.changed) == (expected, True)
    if expected == Status.UNKNOWN:
        assert (t.consecutive_failures, t.message) == (1, "failing (1 of 3): HTTP 500")
