"""Checks from several probe locations (SPEC §20): the quorum rule in ``evaluate``, recording an
agent's results on its location's row, and the claims of the scheduler and of an agent."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import RestrictedError
from django.utils import timezone

from monitoring.choices import PingStatus, Status
from monitoring.models import LocationStatus, PingResult, ProbeLocation, Server, ServerLocation
from monitoring.services import aionet
from monitoring.services.engine.recording import CheckResult, location_status_changed, record
from monitoring.services.engine.transitions import (
    LocationsChanged,
    LocationState,
    Pause,
    Policy,
    ProbeOutcome,
    Resume,
    State,
    evaluate,
    judge_locations,
)
from monitoring.tasks import claims
from monitoring.tests.factories import make_server

OK = ProbeOutcome(PingStatus.SUCCESS, response_time=20.0, status_code=200)
FAIL = ProbeOutcome(PingStatus.FAILURE, response_time=5.0, status_code=500, error_message="HTTP 500")


def three(*statuses: str, online: tuple[bool, ...] = (True, True, True)) -> State:
    names = [("local", "Local"), ("eu", "Frankfurt"), ("us", "Virginia")]
    return State(
        Status.UP,
        locations=tuple(
            LocationState(slug, name, status, online=up)
            for (slug, name), status, up in zip(names, statuses, online, strict=True)
        ),
    )


def at(slug: str, outcome: ProbeOutcome = FAIL) -> ProbeOutcome:
    return ProbeOutcome(
        outcome.status, outcome.response_time, outcome.status_code, outcome.error_message, location=slug
    )


# --- The rule, pure.


def test_one_location_down_of_three_is_degraded_with_the_spec_message() -> None:
    step = evaluate(three(Status.UP, Status.UP, Status.UP), at("eu"), Policy(retries=1))
    assert (step.status, step.changed) == (Status.DEGRADED, True)
    assert step.message == "down from 1 of 3 locations: Frankfurt"
    assert [loc.status for loc in step.locations] == [Status.UP, Status.DOWN, Status.UP]


def test_the_default_quorum_of_three_is_two_and_names_keep_the_order_of_locations() -> None:
    step = evaluate(three(Status.UP, Status.UP, Status.DOWN), at("local"), Policy(retries=1))
    assert step.status == Status.DOWN
    assert step.message == "down from 2 of 3 locations: Local, Virginia"


def test_an_explicit_quorum_of_three_needs_all_three() -> None:
    step = evaluate(three(Status.UP, Status.DOWN, Status.DOWN), at("local"), Policy(retries=1, quorum=3))
    assert step.status == Status.DOWN
    step = evaluate(three(Status.UP, Status.UP, Status.DOWN), at("local"), Policy(retries=1, quorum=3))
    assert (step.status, step.message) == (Status.DEGRADED, "down from 2 of 3 locations: Local, Virginia")


def test_retries_count_per_location() -> None:
    step = evaluate(three(Status.UP, Status.UP, Status.UP), at("eu"), Policy(retries=2))
    assert step.status == Status.UP and step.locations[1].consecutive_failures == 1
    assert step.locations[1].message == "failing (1 of 2): HTTP 500"


def test_an_offline_location_counts_toward_no_quorum() -> None:
    # eu is offline: its DOWN does not count, and one of the two online ones down is below quorum.
    state = three(Status.UP, Status.DOWN, Status.UP, online=(True, False, True))
    step = evaluate(state, at("us"), Policy(retries=1))
    assert (step.status, step.message) == (Status.DEGRADED, "down from 1 of 2 locations: Virginia")
    # Both online ones down: the quorum (2) is reached without the offline one.
    step = evaluate(replace(state, locations=step.locations), at("local"), Policy(retries=1))
    assert (step.status, step.message) == (Status.DOWN, "down from 2 of 2 locations: Local, Virginia")


def test_only_offline_locations_make_it_unknown() -> None:
    state = three(Status.UP, Status.UP, Status.UP, online=(False, False, False))
    step = evaluate(state, LocationsChanged(), Policy(retries=1))
    assert step.status == Status.UNKNOWN and step.changed


def test_a_check_from_a_location_the_server_no_longer_has_changes_nothing() -> None:
    step = evaluate(three(Status.UP, Status.UP, Status.UP), at("asia"), Policy(retries=1))
    assert not step.changed and step.status == Status.UP


def test_pause_and_resume_start_every_location_again() -> None:
    paused = evaluate(three(Status.DOWN, Status.DOWN, Status.UP), Pause(), Policy())
    assert paused.status == Status.PAUSED and {loc.status for loc in paused.locations} == {Status.UNKNOWN}
    resumed = evaluate(State(Status.PAUSED, locations=paused.locations), Resume(), Policy())
    assert resumed.status == Status.UNKNOWN and resumed.changed


def test_a_window_holds_the_server_and_the_first_check_after_it_moves_it() -> None:
    inside = evaluate(three(Status.UP, Status.DOWN, Status.UP), at("eu"), Policy(), maintenance="deploy")
    assert inside.status == Status.MAINTENANCE
    after = evaluate(State(Status.MAINTENANCE, locations=inside.locations), at("eu", OK), Policy())
    assert after.changed and after.status == Status.UP


# --- Recording and claims, with the database.


@pytest.fixture
def places(db: None) -> dict[str, ProbeLocation]:
    return {
        "local": ProbeLocation.objects.local(),
        "eu": ProbeLocation.objects.create(name="Frankfurt", slug="eu"),
        "us": ProbeLocation.objects.create(name="Virginia", slug="us"),
    }


def checked_from(server: Server, *locations: ProbeLocation) -> list[ServerLocation]:
    return [ServerLocation.objects.create(server=server, location=loc, position=i) for i, loc in enumerate(locations)]


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("loc-owner", password="x")


def test_an_agents_result_is_recorded_on_its_location_and_judged_by_quorum(owner: User, places: dict) -> None:
    server = make_server(owner, name="web")
    checked_from(server, places["local"], places["eu"], places["us"])
    now = timezone.now()
    record([CheckResult(server, OK, now), CheckResult(server, OK, now, location=places["us"])])
    [rec] = record([CheckResult(server, FAIL, now, location=places["eu"])])
    assert rec.state.status == Status.DEGRADED
    assert rec.state.message == "down from 1 of 3 locations: Frankfurt"
    assert rec.ping.location == places["eu"]
    eu = ServerLocation.objects.get(server=server, location=places["eu"])
    assert (eu.status, eu.last_response_time) == (Status.DOWN, 5.0)
    [rec] = record([CheckResult(server, FAIL, now, location=places["us"])])
    assert rec.state.status == Status.DOWN and rec.change is not None
    assert Server.objects.get(pk=server.pk).status == Status.DOWN
    assert list(PingResult.objects.filter(server=server).at_location("eu").values_list("status", flat=True)) == [
        PingStatus.FAILURE
    ]
    assert PingResult.objects.filter(server=server).at_location("local").count() == 1


def test_an_agents_claim_leases_its_location_row_and_the_result_ends_it(owner: User, places: dict) -> None:
    server = make_server(owner, name="web")
    checked_from(server, places["eu"])
    now = timezone.now() + timedelta(seconds=1)
    [(claimed, row)] = claims.claim_due_at(places["eu"], now, owner="agent-a")
    assert claimed.pk == server.pk and row.lease_owner == "agent-a"
    assert claims.claim_due_at(places["eu"], now, owner="agent-b") == []  # leased: nobody else gets it
    assert claims.claim_due(now, owner="scheduler") == []  # not checked from the scheduler's own location
    due = row.next_check_at + timedelta(seconds=server.check_interval)
    # A result under a lease it does not hold is not recorded.
    assert record([CheckResult(server, OK, now, lease_owner="agent-b", next_due_at=due, location=places["eu"])]) == []
    row.refresh_from_db()
    assert row.lease_owner == "agent-a" and PingResult.objects.count() == 0
    record([CheckResult(server, OK, now, lease_owner="agent-a", next_due_at=due, location=places["eu"])])
    row.refresh_from_db()
    assert (row.lease_owner, row.next_check_at, row.status) == ("", due, Status.UP)
    assert PingResult.objects.count() == 1


def test_a_kept_result_moves_the_schedule_forward_only(owner: User, places: dict) -> None:
    server = make_server(owner, name="web")
    [row] = checked_from(server, places["eu"])
    later = row.next_check_at + timedelta(minutes=5)
    ServerLocation.objects.filter(pk=row.pk).update(next_check_at=later)
    record([CheckResult(server, OK, timezone.now(), next_due_at=later - timedelta(minutes=4), location=places["eu"])])
    row.refresh_from_db()
    assert row.next_check_at == later


def test_the_scheduler_claims_servers_with_no_locations_and_those_checked_from_its_own(
    owner: User, places: dict
) -> None:
    plain = make_server(owner, name="plain")
    both = make_server(owner, name="both")
    checked_from(both, places["local"], places["eu"])
    remote = make_server(owner, name="remote")
    checked_from(remote, places["eu"])
    claimed = claims.claim_due(timezone.now() + timedelta(seconds=1), owner="scheduler")
    assert {s.name for s in claimed} == {plain.name, both.name}


def test_a_location_going_offline_is_judged_again(owner: User, places: dict) -> None:
    server = make_server(owner, name="web")
    checked_from(server, places["eu"], places["us"])
    now = timezone.now()
    record([CheckResult(server, OK, now, location=places["eu"]), CheckResult(server, OK, now, location=places["us"])])
    ProbeLocation.objects.filter(slug__in=["eu", "us"]).update(status=LocationStatus.OFFLINE)
    location_status_changed(places["eu"])
    server.server_status.refresh_from_db()
    assert server.server_status.status == Status.UNKNOWN
    assert server.server_status.message == "every location is offline: Frankfurt, Virginia"


def test_probes_name_their_location() -> None:
    assert aionet.Client().user_agent == "PulseGuard/1.0.0 (+local)"
    assert aionet.Client("eu-west").user_agent == "PulseGuard/1.0.0 (+eu-west)"


def test_deleting_a_user_deletes_their_teams_locations_servers_and_results(owner: User, places: dict) -> None:
    """A team's location goes with the team, with the servers checked from it and their results;
    on its own, a location still used by a server (or holding results) is not deleted."""
    mine = ProbeLocation.objects.create(name="Home lab", slug="lab", team=owner.personal_team)
    server = make_server(owner, name="web")
    checked_from(server, places["local"], mine)
    record([CheckResult(server, OK, timezone.now(), location=mine)])
    with pytest.raises(RestrictedError):
        mine.delete()
    owner.delete()
    assert not ProbeLocation.objects.filter(slug="lab").exists()
    assert not Server.objects.exists() and not PingResult.objects.exists() and not ServerLocation.objects.exists()


@pytest.mark.parametrize(("places", "quorum"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_the_default_quorum_is_more_than_half_of_the_locations(places: int, quorum: int) -> None:
    """SPEC §20: 1 of 1, 2 of 2, 2 of 3, 3 of 4."""
    slugs = [f"p{n}" for n in range(places)]
    for down in range(places + 1):
        locations = tuple(
            LocationState(slug, slug.upper(), Status.DOWN if n < down else Status.UP) for n, slug in enumerate(slugs)
        )
        status = judge_locations(locations, None)[0]
        expected = Status.DOWN if down >= quorum else Status.DEGRADED if down else Status.UP
        assert status == expected, (places, down)
