"""Notification configs: CRUD and isolation, and no attaching configs to others' servers."""

from __future__ import annotations

import pytest

from authentication.models import AuditEntry, Membership, Role, Team
from monitoring.models import NotificationConfig, NotificationDelivery
from monitoring.tests.alerting import go_down
from monitoring.tests.factories import make_server
from tests.crud import CrudCases

pytestmark = pytest.mark.django_db


class TestNotificationConfigCrud(CrudCases):
    url = "/api/notification-configs/"
    model = NotificationConfig
    update_payload = {"enabled": False, "cooldown_minutes": 30}

    def make(self, owner):
        return NotificationConfig.objects.create_for(
            make_server(owner), notification_type="email", recipient="ops@example.com"
        )

    def create_payload(self, owner):
        return {"server": make_server(owner).pk, "notification_type": "email", "recipient": "ops@example.com"}


def test_a_config_cannot_hang_off_another_users_server(alice, charlie_client):
    server = make_server(alice)
    r = charlie_client.post(
        "/api/notification-configs/",
        {"server": server.pk, "notification_type": "email", "recipient": "x@example.com"},
        format="json",
    )
    assert r.status_code == 400 and "server" in r.json()
    assert not NotificationConfig.objects.exists()


def test_an_unknown_notification_type_is_a_400(alice, alice_client):
    server = make_server(alice)
    r = alice_client.post(
        "/api/notification-configs/",
        {"server": server.pk, "notification_type": "pigeon", "recipient": "x"},
        format="json",
    )
    assert r.status_code == 400 and "notification_type" in r.json()


# --- team configs (SPEC §18) -----------------------------------------------------------------

URL = "/api/notification-configs/"
MAIL = {"notification_type": "email", "recipient": "ops@example.com"}


@pytest.fixture
def ops(alice):
    """A second team of alice's (she owns it)."""
    team = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    return team


def test_server_on_create_means_servers_of_one_and_the_servers_team(alice, alice_client, ops):
    server = make_server(alice, team=ops)
    r = alice_client.post(URL, {**MAIL, "server": server.pk}, format="json")
    assert r.status_code == 201, r.content
    config = NotificationConfig.objects.get()
    assert config.team == ops and list(config.servers.all()) == [server]
    assert r.json()["servers"] == [server.pk] and r.json()["team"] == "ops" and "server" not in r.json()


def test_a_config_may_serve_several_servers_or_none(alice, alice_client):
    one, two = make_server(alice, name="one"), make_server(alice, name="two")
    r = alice_client.post(URL, {**MAIL, "servers": [one.pk, two.pk]}, format="json")
    assert r.status_code == 201 and sorted(r.json()["servers"]) == [one.pk, two.pk]
    r = alice_client.post(URL, {**MAIL, "recipient": "none@example.com", "servers": []}, format="json")
    assert r.status_code == 201 and r.json()["servers"] == [] and r.json()["team"] == "alice"
    assert sorted(one.notification_configs.values_list("recipient", flat=True)) == ["ops@example.com"]


def test_every_server_must_be_of_the_configs_team(alice, alice_client, ops):
    mine, theirs = make_server(alice, name="mine"), make_server(alice, name="ops one", team=ops)
    r = alice_client.post(URL, {**MAIL, "team": "alice", "servers": [mine.pk, theirs.pk]}, format="json")
    assert r.status_code == 400 and "servers" in r.json() and str(theirs.pk) in r.json()["servers"][0]
    config = NotificationConfig.objects.create_for(mine, **MAIL)
    r = alice_client.patch(f"{URL}{config.pk}/", {"servers": [theirs.pk]}, format="json")
    assert r.status_code == 400 and "servers" in r.json()
    assert list(config.servers.all()) == [mine]


def test_events_default_to_all_but_reminder_and_the_old_switches_map_onto_them(alice, alice_client):
    r = alice_client.post(URL, {**MAIL, "servers": [make_server(alice).pk]}, format="json")
    body = r.json()
    assert body["events"] == ["down", "recovery", "degraded", "certificate", "maintenance", "location", "test"]
    assert body["notify_on_failure"] and body["notify_on_recovery"] and body["notify_on_degraded"]
    r = alice_client.patch(
        f"{URL}{body['id']}/", {"notify_on_degraded": False, "notify_on_failure": False}, format="json"
    )
    assert r.json()["events"] == ["recovery", "maintenance", "location", "test"] and not r.json()["notify_on_failure"]
    r = alice_client.patch(f"{URL}{body['id']}/", {"events": ["reminder", "down", "down"]}, format="json")
    assert r.json()["events"] == ["down", "reminder"]
    assert NotificationConfig.objects.get().events == ["down", "reminder"]
    r = alice_client.patch(f"{URL}{body['id']}/", {"events": ["pigeon"]}, format="json")
    assert r.status_code == 400 and "events" in r.json()


def test_attach_all_attaches_the_config_to_every_server_of_its_team_and_is_audited(alice, alice_client, ops):
    one, two = make_server(alice, name="one"), make_server(alice, name="two")
    make_server(alice, name="elsewhere", team=ops)
    config = NotificationConfig.objects.create_for(one, **MAIL)
    r = alice_client.post(f"{URL}{config.pk}/attach-all/")
    assert r.status_code == 200 and sorted(r.json()["servers"]) == [one.pk, two.pk]
    assert sorted(config.servers.values_list("name", flat=True)) == ["one", "two"]
    row = AuditEntry.objects.get(action="update", object_type="notificationconfig")
    assert row.changes == {"servers": [[one.pk], [one.pk, two.pk]]}


def test_attach_all_of_another_teams_config_is_a_404(alice, charlie_client):
    config = NotificationConfig.objects.create_for(make_server(alice), **MAIL)
    assert charlie_client.post(f"{URL}{config.pk}/attach-all/").status_code == 404


def test_a_default_config_is_attached_to_every_new_server_of_its_team(alice, alice_client, ops):
    default = NotificationConfig.objects.create(team=alice.personal_team, is_default=True, **MAIL)
    NotificationConfig.objects.create(team=alice.personal_team, notification_type="sms", recipient="+14155550123")
    NotificationConfig.objects.create(team=ops, is_default=True, **MAIL)
    r = alice_client.post(
        "/api/servers/", {"name": "new", "protocol": "https", "host": "new.example.com"}, format="json"
    )
    assert r.status_code == 201 and r.json()["notification_configs"] == [default.pk]
    # Every way of creating one: the shell, the admin and the import all go through Server.save().
    assert list(make_server(alice, name="shell").notification_configs.all()) == [default]


def test_a_server_names_its_configs_and_may_pick_them(alice, alice_client, ops):
    server = make_server(alice)
    config = NotificationConfig.objects.create(team=alice.personal_team, **MAIL)
    other = NotificationConfig.objects.create(team=ops, **MAIL)
    url = f"/api/servers/{server.pk}/"
    assert alice_client.patch(url, {"notification_configs": [config.pk]}, format="json").json()[
        "notification_configs"
    ] == [config.pk]
    r = alice_client.patch(url, {"notification_configs": [other.pk]}, format="json")
    assert r.status_code == 400 and "notification_configs" in r.json()
    assert list(server.notification_configs.all()) == [config]


def test_a_config_of_two_servers_alerts_for_each_and_cools_down_per_server(alice):
    one, two = make_server(alice, name="one"), make_server(alice, name="two")
    config = NotificationConfig.objects.create_for(one, cooldown_minutes=60, **MAIL)
    config.servers.add(two)
    go_down(one)
    go_down(two)  # within the cooldown of one's DOWN: another server, so it goes out too
    downs = NotificationDelivery.objects.filter(config=config, event="down")
    assert sorted(d.change.server.name for d in downs) == ["one", "two"]
    assert {d.status for d in downs} == {"pending"}
