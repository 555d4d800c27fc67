"""The status state machine, tested without a database."""

from __future__ import annotations

import pytest

from monitoring.choices import PingStatus, Status
from monitoring.services.engine.transitions import Pause, Policy, ProbeOutcome, Reschedule, Resume, State, evaluate


def step(
    previous: str,
    ok: bool,
    *,
    failures: int = 0,
    retries: int = 1,
    rt: float | None = 50.0,
    threshold: int | None = None,
):
    outcome = ProbeOutcome(PingStatus.SUCCESS, rt) if ok else ProbeOutcome(PingStatus.FAILURE, rt, error_message="boom")
    return evaluate(State(previous, failures), outcome, Policy(retries, threshold))


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


@pytest.mark.parametrize("held", [Status.PAUSED])
@pytest.mark.parametrize("ok", [True, False])
def test_a_held_status_keeps_its_status_count_and_message(held, ok):
    t = step_state(State(held, 2, "paused"), ok)
    assert (t.status, t.consecutive_failures, t.message, t.changed) == (held, 2, "paused", False)


def test_a_timeout_or_error_counts_as_a_failure():
    for status in (PingStatus.TIMEOUT, PingStatus.ERROR):
        t = evaluate(State(Status.UP), ProbeOutcome(status, error_message="x"), Policy(retries=1))
        assert (t.status, t.changed, t.message) == (Status.DOWN, True, "x")


def test_degraded_to_up_when_fast_again_is_a_change():
    t = step(Status.DEGRADED, True, rt=10.0, threshold=100)
    assert (t.status, t.changed, t.message) == (Status.UP, True, "")


def test_degraded_message_names_the_time_and_threshold():
    assert step(Status.UP, True, rt=150.0, threshold=100).message == "slow: 150 ms > 100 ms"


def step_state(state: State, ok: bool):
    outcome = ProbeOutcome(PingStatus.SUCCESS, 5.0) if ok else ProbeOutcome(PingStatus.FAILURE, error_message="boom")
    return evaluate(state, outcome, Policy(retries=1))


# --- pause, resume and edits are outcomes too (issue 14 A.2) ---------------------------------


@pytest.mark.parametrize("status", [Status.UP, Status.DOWN, Status.DEGRADED, Status.MAINTENANCE, Status.UNKNOWN])
def test_a_pause_makes_any_status_paused_and_forgets_failures(status):
    t = evaluate(State(status, 2, "failing"), Pause(), Policy(retries=3))
    assert (t.status, t.consecutive_failures, t.message, t.changed) == (Status.PAUSED, 0, "paused", True)


def test_pausing_a_paused_server_is_no_change():
    assert not evaluate(State(Status.PAUSED, 0, "paused"), Pause(), Policy()).changed


def test_a_resume_makes_a_paused_server_unknown_and_an_active_one_stays():
    t = evaluate(State(Status.PAUSED, 0, "paused"), Resume(), Policy())
    assert (t.status, t.changed) == (Status.UNKNOWN, True) and t.message.startswith("resumed")
    assert evaluate(State(Status.UP), Resume(), Policy()) == evaluate(State(Status.UP), Reschedule(), Policy())
    assert not evaluate(State(Status.UP), Resume(), Policy()).changed


def test_an_edit_changes_no_status_even_inside_a_window():
    t = evaluate(State(Status.DOWN, 3, "HTTP 500"), Reschedule(), Policy(), maintenance="deploy")
    assert (t.status, t.consecutive_failures, t.changed) == (Status.DOWN, 3, False)
