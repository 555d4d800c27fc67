"""Dependencies (SPEC §18): a server's DOWN while one it depends on is DOWN is recorded, not alerted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, Status
from monitoring.models import Incident, NotificationDelivery, Server, StatusChange
from monitoring.services.alerts.delivery import send_pending
from monitoring.tests.alerting import go_down, go_up, make_config, make_server
from tests.targets import LocalHTTPServer

pytestmark = pytest.mark.django_db


def router_and_app(owner, receiver: LocalHTTPServer) -> tuple[Server, Server]:
    receiver.set("/hook", 200)
    router = make_server(owner, name="router")
    app = make_server(owner, name="app")
    app.depends_on.set([router])
    for server in (router, app):
        make_config(server, recipient=receiver.url("/hook"))
    return router, app


def sent(receiver: LocalHTTPServer) -> list[tuple[str, str]]:
    return [(r.json()["event"], r.json()["server"]["name"]) for r in receiver.requests]


def test_a_down_behind_a_down_dependency_is_recorded_but_suppressed_then_sent_when_still_down_after(alice):
    with LocalHTTPServer() as receiver:
        router, app = router_and_app(alice, receiver)
        t = timezone.now() - timedelta(minutes=10)
        go_down(router, t)
        go_down(app, t + timedelta(seconds=1))
        # Recorded as usual: the change and the incident.
        assert StatusChange.objects.filter(server=app, status=Status.DOWN).exists()
        assert Incident.objects.open().filter(server=app).exists()
        row = NotificationDelivery.objects.get(change__server=app)
        assert row.status == DeliveryStatus.SUPPRESSED
        assert row.last_error == "depends on router, which is down"
        send_pending()
        assert sent(receiver) == [("down", "router")]

        go_down(app, t + timedelta(seconds=30))  # the router is still down: still quiet
        send_pending()
        assert sent(receiver) == [("down", "router")]

        go_up(router, t + timedelta(seconds=60))
        send_pending()
        go_down(app, t + timedelta(seconds=90))  # still down without the router to blame: alert now
        send_pending()
        go_down(app, t + timedelta(seconds=120))  # once
        send_pending()
    assert sent(receiver) == [("down", "router"), ("recovery", "router"), ("down", "app")]
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT
    assert NotificationDelivery.objects.filter(change__server=app).count() == 1, "still one row per (change, config)"
    assert not Server.objects.get(pk=app.pk).held_by_dependency


def test_a_suppressed_down_is_a_suppressed_entry_of_the_incidents_timeline_with_the_reason(alice):
    with LocalHTTPServer() as receiver:
        router, app = router_and_app(alice, receiver)
        t = timezone.now() - timedelta(minutes=10)
        go_down(router, t)
        go_down(app, t + timedelta(seconds=1))
    row = NotificationDelivery.objects.get(change__server=app)
    timeline = Incident.objects.get(server=app).timeline
    assert [e["kind"] for e in timeline] == ["opened", "suppressed"]
    assert timeline[1]["note"] == "depends on router, which is down" and timeline[1]["configs"] == [row.config_id]
    assert [e["kind"] for e in Incident.objects.get(server=router).timeline] == ["opened"]


def test_a_suppressed_server_that_recovers_sends_no_recovery(alice):
    with LocalHTTPServer() as receiver:
        router, app = router_and_app(alice, receiver)
        t = timezone.now() - timedelta(minutes=10)
        go_down(router, t)
        go_down(app, t + timedelta(seconds=1))
        go_up(app, t + timedelta(seconds=30))
        go_up(router, t + timedelta(seconds=31))
        send_pending()
    assert sent(receiver) == [("down", "router"), ("recovery", "router")]
    recovery = NotificationDelivery.objects.get(change__server=app, event=AlertEvent.RECOVERY)
    assert recovery.status == DeliveryStatus.SUPPRESSED and "depends on router" in recovery.last_error
    assert not Server.objects.get(pk=app.pk).held_by_dependency


def test_a_dependency_that_is_up_changes_nothing(alice):
    with LocalHTTPServer() as receiver:
        router, app = router_and_app(alice, receiver)
        go_up(router)
        go_down(app)
        send_pending()
    assert sent(receiver) == [("down", "app")]


def test_a_server_and_its_dependency_down_in_one_batch_alert_only_the_dependency(alice):
    from monitoring.choices import PingStatus
    from monitoring.services.engine.recording import CheckResult, record
    from monitoring.services.engine.transitions import ProbeOutcome

    with LocalHTTPServer() as receiver:
        router, app = router_and_app(alice, receiver)
        failed = ProbeOutcome(PingStatus.FAILURE, response_time=1.0, status_code=500, error_message="HTTP 500")
        now = timezone.now()
        record([CheckResult(app, failed, now), CheckResult(router, failed, now)])
        send_pending()
    assert sent(receiver) == [("down", "router")]


# --- The API ------------------------------------------------------------------------------------


def test_the_api_sets_and_shows_depends_on(alice, alice_client):
    router = make_server(alice, name="router")
    r = alice_client.post(
        "/api/servers/",
        {"name": "app", "protocol": "http", "host": "127.0.0.1", "port": 80, "depends_on": [router.pk]},
        format="json",
    )
    assert r.status_code == 201, r.data
    assert r.data["depends_on"] == [router.pk]
    assert list(Server.objects.get(pk=r.data["id"]).depends_on.all()) == [router]
    r = alice_client.patch(f"/api/servers/{r.data['id']}/", {"depends_on": []}, format="json")
    assert r.status_code == 200 and r.data["depends_on"] == []


@pytest.mark.parametrize("shape", ["self", "two", "three"])
def test_a_dependency_cycle_is_a_400_naming_depends_on(alice, alice_client, shape):
    a, b, c = (make_server(alice, name=n) for n in "abc")
    if shape == "self":
        target, wanted = a, [a]
    elif shape == "two":
        b.depends_on.set([a])
        target, wanted = a, [b]
    else:
        b.depends_on.set([a])
        c.depends_on.set([b])
        target, wanted = a, [c]
    r = alice_client.patch(f"/api/servers/{target.pk}/", {"depends_on": [s.pk for s in wanted]}, format="json")
    assert r.status_code == 400 and "depends_on" in r.data, r.data
    assert not target.depends_on.exists()


def test_another_teams_server_is_a_400(alice, alice_client, bob):
    mine = make_server(alice, name="mine")
    theirs = make_server(bob, name="theirs")
    r = alice_client.patch(f"/api/servers/{mine.pk}/", {"depends_on": [theirs.pk]}, format="json")
    assert r.status_code == 400 and "depends_on" in r.data
    for bad in (["x"], [2**70], "1", [None]):
        r = alice_client.patch(f"/api/servers/{mine.pk}/", {"depends_on": bad}, format="json")
        assert r.status_code == 400 and "depends_on" in r.data, bad


def test_config_export_and_import_name_dependencies(alice, alice_client):
    router = make_server(alice, name="router")
    app = make_server(alice, name="app")
    app.depends_on.set([router])
    doc = alice_client.get("/api/config/export/").json()
    by_name = {s["name"]: s for s in doc["servers"]}
    assert by_name["app"]["depends_on"] == ["router"] and "depends_on" not in by_name["router"]

    app.depends_on.clear()
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 200, r.data
    assert list(app.depends_on.all()) == [router]

    by_name["router"]["depends_on"] = ["app"]  # a cycle through the document
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and "depends_on" in str(r.data)
    assert not router.depends_on.exists()
    by_name["router"]["depends_on"] = ["nobody"]
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and "nobody" in str(r.data)


def test_a_server_with_an_escalation_policy_behind_a_down_dependency_pages_nobody_until_it_is_to_blame(alice):
    from monitoring.models import EscalationPolicy
    from monitoring.services.alerts import escalation

    with LocalHTTPServer() as receiver:
        router, app = router_and_app(alice, receiver)
        receiver.set("/later", 200)
        step0 = make_config(app, recipient=receiver.url("/hook"))
        step1 = make_config(app, recipient=receiver.url("/later"))
        app.escalation_policy = EscalationPolicy.objects.create(
            owner=alice,
            name="on call",
            steps=[
                {"after_minutes": 0, "notification_configs": [step0.pk]},
                {"after_minutes": 1, "notification_configs": [step1.pk]},
            ],
        )
        app.save()
        t = timezone.now() - timedelta(minutes=30)
        go_down(router, t)
        go_down(app, t + timedelta(seconds=1))
        incident = Incident.objects.get(server=app, ended_at__isnull=True)
        first = NotificationDelivery.objects.filter(incident=incident, event=AlertEvent.DOWN)
        assert {r.status for r in first} == {DeliveryStatus.SUPPRESSED}
        assert incident.timeline[-1]["kind"] == "suppressed"
        assert escalation.escalation_step(t + timedelta(minutes=5)) == 0  # no step 1 while held
        send_pending()
        assert sent(receiver) == [("down", "router")]

        go_up(router, t + timedelta(minutes=6))
        go_down(app, t + timedelta(minutes=7))  # still down on its own: step 0 now, then step 1
        send_pending()
        assert escalation.escalation_step(t + timedelta(minutes=7, seconds=1)) == 1
        send_pending()
    paths = [r.path for r in receiver.requests]
    assert paths.count("/later") == 1
    assert ("down", "app") in sent(receiver)
