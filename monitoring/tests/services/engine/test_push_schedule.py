"""Push monitors on a cron schedule in a time zone (SPEC §19): due at the next cron time after the
last push, plus grace; a missed one records "no push by <deadline>"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import Server, ServerStatus
from monitoring.services.engine.push import record_push
from monitoring.tasks.push import push_step

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def make_cron(owner, **fields) -> Server:
    values = {
        "name": "nightly backup",
        "protocol": Protocol.PUSH,
        "schedule": "0 3 * * *",
        "schedule_timezone": "Europe/Berlin",
        "grace_seconds": 300,
    }
    return Server.objects.create(owner=owner, **(values | fields))


def test_a_push_server_takes_a_schedule_and_its_deadline_is_the_next_cron_time_plus_grace(alice_client):
    payload = {"name": "cron", "protocol": "push", "schedule": "0 3 * * *", "schedule_timezone": "Europe/Berlin"}
    r = alice_client.post("/api/servers/", payload | {"grace_seconds": 600}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["schedule"] == "0 3 * * *" and body["schedule_timezone"] == "Europe/Berlin"
    deadline = Server.objects.get(pk=body["id"]).push_deadline_at
    assert body["push_deadline_at"] is not None
    local = deadline.astimezone(BERLIN)
    assert (local.hour, local.minute, local.second) == (3, 10, 0)
    assert timezone.now() < deadline <= timezone.now() + timedelta(days=1, minutes=10)


def test_the_time_zone_defaults_to_utc(alice_client):
    r = alice_client.post("/api/servers/", {"name": "c", "protocol": "push", "schedule": "30 1 * * *"}, format="json")
    assert r.status_code == 201 and r.json()["schedule_timezone"] == "UTC"
    deadline = Server.objects.get(pk=r.json()["id"]).push_deadline_at.astimezone(UTC)
    assert (deadline.hour, deadline.minute) == (1, 31)  # grace 60 s by default


@pytest.mark.parametrize("schedule", ["61 * * * *", "* * * * * *", "every night", "0 3 * *", "@sometimes"])
def test_a_bad_cron_expression_is_400(alice_client, schedule):
    r = alice_client.post("/api/servers/", {"name": "c", "protocol": "push", "schedule": schedule}, format="json")
    assert r.status_code == 400 and "schedule" in r.json(), r.json()


def test_a_bad_time_zone_is_400_and_a_schedule_is_for_push_only(alice_client):
    r = alice_client.post(
        "/api/servers/",
        {"name": "c", "protocol": "push", "schedule": "0 3 * * *", "schedule_timezone": "Mars/Olympus"},
        format="json",
    )
    assert r.status_code == 400 and "schedule_timezone" in r.json()
    r = alice_client.post(
        "/api/servers/",
        {"name": "w", "protocol": "https", "host": "example.com", "schedule": "0 3 * * *"},
        format="json",
    )
    assert r.status_code == 400 and "schedule" in r.json()


def test_a_push_moves_the_deadline_to_the_next_cron_time_after_it(alice):
    server = make_cron(alice)
    pushed = datetime(2026, 12, 4, 3, 0, 40, tzinfo=BERLIN)  # the 03:00 run reports
    record_push(server, now=pushed)
    server.refresh_from_db()
    assert server.push_deadline_at == datetime(2026, 12, 5, 3, 5, tzinfo=BERLIN)


def test_a_missed_cron_deadline_records_no_push_by_it_and_goes_down(alice):
    server = make_cron(alice)
    record_push(server, now=datetime(2026, 12, 4, 3, 0, 40, tzinfo=BERLIN))
    server.refresh_from_db()
    deadline = server.push_deadline_at
    assert push_step(deadline - timedelta(seconds=1)) == []
    [rec] = push_step(deadline + timedelta(seconds=1))
    assert rec.ping.status == PingStatus.TIMEOUT
    assert rec.ping.error_message == "no push by 2026-12-05T03:05:00+01:00"
    assert ServerStatus.objects.get(server=server).status == Status.DOWN
    # The next deadline is the next night's, once, not every check_interval.
    server.refresh_from_db()
    assert server.push_deadline_at == datetime(2026, 12, 6, 3, 5, tzinfo=BERLIN)
    assert push_step(deadline + timedelta(hours=12)) == []


def test_a_scheduler_back_after_days_records_one_miss_and_waits_for_the_next_run(alice):
    server = make_cron(alice)
    record_push(server, now=datetime(2026, 12, 4, 3, 0, 40, tzinfo=BERLIN))
    back = datetime(2026, 12, 8, 12, 0, tzinfo=BERLIN)
    assert len(push_step(back)) == 1
    server.refresh_from_db()
    assert server.push_deadline_at == datetime(2026, 12, 9, 3, 5, tzinfo=BERLIN)


def test_the_schedule_follows_daylight_saving_time(alice):
    server = make_cron(alice, grace_seconds=0)
    record_push(server, now=datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN))  # the night summer time begins
    server.refresh_from_db()
    assert server.push_deadline_at == datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)
    assert server.push_deadline_at.astimezone(UTC).hour == 1  # CEST: UTC+2


def test_editing_the_schedule_moves_the_deadline(alice, alice_client):
    server = make_cron(alice)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"schedule": "0 12 * * *"}, format="json")
    assert r.status_code == 200, r.json()
    local = Server.objects.get(pk=server.pk).push_deadline_at.astimezone(BERLIN)
    assert (local.hour, local.minute) == (12, 5)


def test_without_a_schedule_the_interval_still_rules(alice):
    server = Server.objects.create(owner=alice, name="hb", protocol=Protocol.PUSH, check_interval=60, grace_seconds=10)
    now = timezone.now()
    record_push(server, now=now)
    server.refresh_from_db()
    assert server.push_deadline_at == now + timedelta(seconds=70)


def test_the_server_page_shows_the_schedule_and_the_next_expected_time(alice):
    from django.test import Client

    server = make_cron(alice)
    record_push(server, now=datetime(2026, 12, 4, 3, 0, 40, tzinfo=BERLIN))
    client = Client()
    client.force_login(alice)
    html = client.get(f"/servers/{server.pk}/").content.decode()
    assert "<code>0 3 * * *</code> (Europe/Berlin)" in html
    assert 'id="push-deadline"><time datetime="2026-12-05T02:05:00Z"' in html


def test_the_schedule_is_exported_and_imported(alice, alice_client):
    make_cron(alice)
    exported = alice_client.get("/api/config/export/").json()
    [item] = exported["servers"]
    assert item["schedule"] == "0 3 * * *" and item["schedule_timezone"] == "Europe/Berlin"
    Server.objects.all().delete()
    r = alice_client.post("/api/config/import/", exported, format="json")
    assert r.status_code in (200, 201), r.json()
    server = Server.objects.get()
    assert (server.schedule, server.schedule_timezone) == ("0 3 * * *", "Europe/Berlin")
    assert server.push_deadline_at.astimezone(BERLIN).hour == 3
