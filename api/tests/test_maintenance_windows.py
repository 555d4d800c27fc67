"""Maintenance windows: real time zones, the API and its filters (SPEC §12)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from monitoring.models import MaintenanceWindow
from monitoring.tests.factories import make_server
from tests.crud import CrudCases

MONDAY = 0
SUNDAY = 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(weekdays, at: str, minutes: int, tz: str = "UTC") -> MaintenanceWindow:
    hh, mm = map(int, at.split(":"))
    return MaintenanceWindow(
        name="w", recurrence="weekly", weekdays=weekdays, start_time=time(hh, mm), duration_minutes=minutes, timezone=tz
    )


def daily(at: str, minutes: int, tz: str = "UTC") -> MaintenanceWindow:
    hh, mm = map(int, at.split(":"))
    return MaintenanceWindow(
        name="d", recurrence="daily", start_time=time(hh, mm), duration_minutes=minutes, timezone=tz
    )


# --- time, without a database -------------------------------------------------------------


def test_a_weekly_berlin_window_stays_at_two_local_across_the_spring_change():
    # Europe/Berlin goes from CET (+01) to CEST (+02) on Sunday 2026-03-29.
    w = weekly([MONDAY], "02:00", 60, "Europe/Berlin")
    assert w.next_start(utc(2026, 3, 22, 12)) == utc(2026, 3, 23, 1)  # 02:00 CET
    assert w.next_start(utc(2026, 3, 24)) == utc(2026, 3, 30, 0)  # 02:00 CEST
    assert w.is_active_at(utc(2026, 3, 23, 1, 30)) and not w.is_active_at(utc(2026, 3, 23, 0, 30))
    assert w.is_active_at(utc(2026, 3, 30, 0, 30)) and not w.is_active_at(utc(2026, 3, 30, 1, 30))


def test_a_weekly_berlin_window_stays_at_two_local_across_the_autumn_change():
    # Back from CEST to CET on Sunday 2026-10-25.
    w = weekly([MONDAY], "02:00", 60, "Europe/Berlin")
    assert w.next_start(utc(2026, 10, 18)) == utc(2026, 10, 19, 0)  # 02:00 CEST
    assert w.next_start(utc(2026, 10, 20)) == utc(2026, 10, 26, 1)  # 02:00 CET
    assert w.is_active_at(utc(2026, 10, 26, 1, 59)) and not w.is_active_at(utc(2026, 10, 26, 0, 59))


def test_a_window_lasts_its_duration_in_real_minutes_across_the_change_itself():
    # 01:30 CET + 120 real minutes on the night of the spring change ends at 04:30 CEST (02:30 UTC).
    w = daily("01:30", 120, "Europe/Berlin")
    assert w.is_active_at(utc(2026, 3, 29, 0, 30)) and w.is_active_at(utc(2026, 3, 29, 2, 29))
    assert not w.is_active_at(utc(2026, 3, 29, 2, 30))


def test_a_daily_window_spanning_midnight_is_active_on_both_sides():
    w = daily("23:00", 120)
    assert w.is_active_at(utc(2026, 12, 1, 23, 30)) and w.is_active_at(utc(2026, 12, 2, 0, 59))
    assert not w.is_active_at(utc(2026, 12, 2, 1, 0)) and not w.is_active_at(utc(2026, 12, 1, 22, 59))
    assert w.next_start(utc(2026, 12, 2, 0, 30)) == utc(2026, 12, 2, 23)


def test_a_weekly_window_spanning_midnight_belongs_to_the_day_it_starts():
    w = weekly([SUNDAY], "23:00", 180, "Europe/Berlin")
    # Sunday 2026-12-06 23:00 CET = 22:00 UTC, until Monday 02:00 CET = 01:00 UTC.
    assert w.is_active_at(utc(2026, 12, 7, 0, 30))
    assert not w.is_active_at(utc(2026, 12, 7, 1, 0)) and not w.is_active_at(utc(2026, 12, 6, 21, 59))
    assert not w.is_active_at(utc(2026, 12, 8, 0, 30)), "Monday night is not Sunday night"


def test_a_one_off_window_is_active_between_its_times_and_has_no_next_start_after_it():
    w = MaintenanceWindow(name="o", starts_at=utc(2026, 12, 1, 10), ends_at=utc(2026, 12, 1, 11))
    assert w.next_start(utc(2026, 12, 1, 9)) == utc(2026, 12, 1, 10)
    assert w.is_active_at(utc(2026, 12, 1, 10)) and not w.is_active_at(utc(2026, 12, 1, 11))
    assert w.next_start(utc(2026, 12, 1, 10, 30)) is None


def test_a_disabled_window_is_never_active_and_has_no_next_start():
    w = daily("00:00", 1440)
    w.enabled = False
    assert not w.is_active_at(utc(2026, 12, 1, 12)) and w.next_start(utc(2026, 12, 1)) is None


# --- the API --------------------------------------------------------------------------------

WEEKLY = {
    "name": "Patch night",
    "tags": ["prod"],
    "recurrence": "weekly",
    "weekdays": [6],
    "start_time": "02:00",
    "duration_minutes": 120,
    "timezone": "Europe/Berlin",
}


class TestMaintenanceWindowCrud(CrudCases):
    url = "/api/maintenance-windows/"
    model = MaintenanceWindow
    update_payload = {"name": "Renamed", "duration_minutes": 30}

    def make(self, owner):
        return MaintenanceWindow.objects.create(
            owner=owner, name="w", tags=["prod"], recurrence="daily", start_time=time(2), duration_minutes=60
        )

    def create_payload(self, owner):
        return WEEKLY


@pytest.mark.django_db
def test_a_window_answers_active_and_next_start(alice, alice_client):
    server = make_server(alice)
    r = alice_client.post("/api/maintenance-windows/", {**WEEKLY, "servers": [server.pk], "tags": []}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["servers"] == [server.pk] and body["start_time"] == "02:00" and body["owner"] == "alice"
    assert body["active"] is False or body["active"] is True
    window = MaintenanceWindow.objects.get(pk=body["id"])
    assert list(window.servers.all()) == [server]
    start = datetime.fromisoformat(body["next_start"].replace("Z", "+00:00"))
    assert start == window.next_start(start - timedelta(seconds=1))
    assert start.astimezone(window_zone := __import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour == 2
    assert start.astimezone(window_zone).weekday() == SUNDAY


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "tags": ["prod"]}, "non_field_errors"),
        ({**WEEKLY, "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-01T01:00:00Z"}, "recurrence"),
        ({**WEEKLY, "weekdays": []}, "weekdays"),
        ({**WEEKLY, "weekdays": [7]}, "weekdays"),
        ({**WEEKLY, "recurrence": "daily"}, "weekdays"),
        ({**WEEKLY, "recurrence": "monthly"}, "recurrence"),
        ({**WEEKLY, "timezone": "Mars/Olympus"}, "timezone"),
        ({**WEEKLY, "start_time": "25:00"}, "start_time"),
        ({**WEEKLY, "duration_minutes": 0}, "duration_minutes"),
        ({**WEEKLY, "duration_minutes": None}, "duration_minutes"),
        (
            {"name": "o", "tags": ["a"], "starts_at": "2026-12-01T02:00:00Z", "ends_at": "2026-12-01T01:00:00Z"},
            "ends_at",
        ),
        ({"name": "o", "tags": ["a"], "starts_at": "2026-12-01T02:00:00Z"}, "ends_at"),
        ({**WEEKLY, "tags": []}, "servers"),
        ({**WEEKLY, "name": "a\x00b"}, "name"),
    ],
)
def test_bad_windows_are_400_with_field_errors(alice_client, payload, field):
    r = alice_client.post("/api/maintenance-windows/", payload, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.django_db
def test_window_errors_speak_words_not_field_names(alice_client):
    # The web form shows these beside its "Starts", "Ends", "From" and "For" fields.
    one_off = {"name": "o", "tags": ["a"], "starts_at": "2026-12-01T02:00:00Z", "ends_at": "2026-12-01T01:00:00Z"}
    assert alice_client.post("/api/maintenance-windows/", one_off, format="json").json() == {
        "ends_at": ["The end must be after the start."]
    }
    recurring = {**WEEKLY, "start_time": None, "duration_minutes": None, "weekdays": []}
    errors = alice_client.post("/api/maintenance-windows/", recurring, format="json").json()
    messages = " ".join(m for v in errors.values() for m in v)
    assert not any(word in messages for word in ("starts_at", "ends_at", "start_time", "duration_minutes")), errors


@pytest.mark.django_db
def test_another_users_server_id_is_400(alice_client, charlie):
    theirs = make_server(charlie)
    r = alice_client.post("/api/maintenance-windows/", {**WEEKLY, "servers": [theirs.pk]}, format="json")
    assert r.status_code == 400 and "servers" in r.json()


@pytest.mark.django_db
def test_filters_active_and_server_also_through_tags(alice, alice_client):
    tagged = make_server(alice, name="db", tags=["prod"])
    linked = make_server(alice, name="web")
    always = MaintenanceWindow.objects.create(
        owner=alice, name="always", tags=["prod"], recurrence="daily", start_time=time(0), duration_minutes=1440
    )
    never = MaintenanceWindow.objects.create(
        owner=alice, name="past", starts_at=utc(2020, 1, 1), ends_at=utc(2020, 1, 2)
    )
    never.servers.add(linked)

    def ids(query: str) -> set[int]:
        r = alice_client.get(f"/api/maintenance-windows/?{query}")
        assert r.status_code == 200
        return {row["id"] for row in r.json()["results"]}

    assert ids("active=true") == {always.pk} and ids("active=false") == {never.pk}
    assert ids(f"server={tagged.pk}") == {always.pk}
    assert ids(f"server={linked.pk}") == {never.pk}
    assert ids("server=999999") == set()
