"""Field rules shared by the model and the API: the default timeout, tags, owned servers,
basic-auth user names and the ports of /api/check-ssl/ (SPEC §4, §10, §13, §23)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from monitoring.models import MaintenanceWindow, NotificationConfig, Server, StatusPage
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db

WEEKLY = {"name": "w", "recurrence": "weekly", "weekdays": [0], "start_time": "02:00", "duration_minutes": 30}


# --- The default timeout (SPEC §23).


@pytest.mark.parametrize(
    "body",
    [
        {"protocol": "push"},
        {"protocol": "http", "host": "shop.example.com"},
        {"protocol": "https", "host": "shop.example.com"},
        {"protocol": "tcp", "host": "db.example.com", "port": 5432},
    ],
)
def test_a_server_at_the_minimum_interval_needs_no_timeout(alice_client, body):
    r = alice_client.post("/api/servers/", {"name": "fast", "check_interval": 10, **body}, format="json")
    assert r.status_code == 201, r.json()
    server = Server.objects.get(pk=r.json()["id"])
    assert server.timeout == 9 and r.json()["timeout"] == 9  # the lesser of 10 s and check_interval - 1


@pytest.mark.parametrize(("interval", "timeout"), [(11, 10), (15, 10), (60, 10), (3600, 10)])
def test_the_default_timeout_is_ten_seconds_when_the_interval_allows_it(alice_client, interval, timeout):
    body = {"name": "s", "protocol": "https", "host": "shop.example.com", "check_interval": interval}
    r = alice_client.post("/api/servers/", body, format="json")
    assert r.status_code == 201, r.json()
    assert Server.objects.get(pk=r.json()["id"]).timeout == timeout


def test_a_given_timeout_must_still_be_shorter_than_the_interval(alice_client):
    body = {"name": "s", "protocol": "https", "host": "shop.example.com", "check_interval": 10, "timeout": 10}
    r = alice_client.post("/api/servers/", body, format="json")
    assert r.status_code == 400
    assert r.json()["timeout"] == ["The timeout must be shorter than the check interval."]


@pytest.mark.parametrize("timeout", [30, 0.1, 1000, "soon", None])
def test_a_push_server_ignores_its_timeout(alice, alice_client, timeout):
    body = {"name": "cron", "protocol": "push", "check_interval": 10, "timeout": timeout}
    r = alice_client.post("/api/servers/", body, format="json")
    assert r.status_code == 201, r.json()
    server = Server.objects.get(pk=r.json()["id"])
    assert server.timeout == 9
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"check_interval": 10, "timeout": timeout}, format="json")
    assert r.status_code == 200, r.json()
    server.refresh_from_db()
    assert (server.check_interval, server.timeout) == (10, 9)


def test_a_push_servers_timeout_is_ignored_in_a_form_post_too(alice_client):
    body = {"name": "cron", "protocol": "push", "check_interval": 10, "timeout": "1000"}
    r = alice_client.post("/api/servers/", body, format="multipart")
    assert r.status_code == 201, r.json()
    assert Server.objects.get(pk=r.json()["id"]).timeout == 9


def test_the_model_judges_the_timeout_of_probed_servers_only(alice):
    """The admin form's rule is the same rule."""
    with pytest.raises(ValidationError) as caught:
        Server(owner=alice, name="h", host="shop.example.com", check_interval=10, timeout=60).full_clean()
    assert caught.value.message_dict["timeout"] == ["The timeout must be shorter than the check interval."]
    push = Server(owner=alice, name="p", protocol="push", check_interval=10, timeout=60)
    push.full_clean()
    assert push.timeout == 60  # stored as it came; never used


# --- Tags: one field, one validator, on every resource that has them.

TAGGED = [
    ("/api/servers/", {"name": "s", "protocol": "https", "host": "shop.example.com"}),
    ("/api/status-pages/", {"slug": "page", "title": "T"}),
    ("/api/maintenance-windows/", WEEKLY),
]


@pytest.mark.parametrize(("url", "body"), TAGGED)
def test_tags_are_deduplicated_in_order(alice_client, url, body):
    r = alice_client.post(url, {**body, "tags": ["prod", "eu", "prod"]}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["tags"] == ["prod", "eu"]


@pytest.mark.parametrize(("url", "body"), TAGGED)
@pytest.mark.parametrize(
    "tags", [["has space"], [""], ["x" * 51], [f"t{i}" for i in range(21)], "prod", [None], [["a"]]]
)
def test_bad_tags_are_a_field_error_everywhere(alice_client, url, body, tags):
    r = alice_client.post(url, {**body, "tags": tags}, format="json")
    assert r.status_code == 400 and "tags" in r.json(), r.json()


@pytest.mark.parametrize("model", [Server, StatusPage, MaintenanceWindow])
def test_the_models_refuse_bad_tags_too(model):
    field = model._meta.get_field("tags")
    with pytest.raises(ValidationError):
        field.run_validators(["has space"])


# --- Owned servers: the owner's, and nothing said about anyone else's.

OWNING = [
    ("/api/status-pages/", {"slug": "page", "title": "T"}, "servers", True),
    ("/api/maintenance-windows/", WEEKLY, "servers", True),
    ("/api/notification-configs/", {"notification_type": "email", "recipient": "a@example.com"}, "servers", True),
]


@pytest.mark.parametrize(("url", "body", "field", "many"), OWNING)
@pytest.mark.parametrize("requester", ["alice", "bob"])  # bob is staff: he sees every server, owns none of these
def test_another_users_server_reads_like_a_missing_one(request, charlie, url, body, field, many, requester):
    client = request.getfixturevalue(f"{requester}_client")
    theirs = make_server(charlie)
    missing = theirs.pk + 1000

    def errors(pk: int) -> list[str]:
        r = client.post(url, {**body, field: [pk] if many else pk}, format="json")
        assert r.status_code == 400, r.json()
        return r.json()[field]

    assert errors(theirs.pk) == [msg.replace(str(missing), str(theirs.pk)) for msg in errors(missing)]
    assert not StatusPage.objects.exists() and not MaintenanceWindow.objects.exists()
    assert not NotificationConfig.objects.exists()


@pytest.mark.parametrize(("url", "body", "field", "many"), OWNING)
def test_the_own_servers_are_accepted(alice, alice_client, url, body, field, many):
    mine = make_server(alice)
    r = alice_client.post(url, {**body, field: [mine.pk] if many else mine.pk}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()[field] == ([mine.pk] if many else mine.pk)


def test_staff_editing_a_users_window_may_keep_and_pick_that_users_servers(alice, bob, bob_client):
    first, second = make_server(alice, name="a"), make_server(alice, name="b")
    window = MaintenanceWindow.objects.create(owner=alice, **{**WEEKLY, "start_time": "02:00"})
    window.servers.add(first)
    r = bob_client.patch(f"/api/maintenance-windows/{window.pk}/", {"servers": [first.pk, second.pk]}, format="json")
    assert r.status_code == 200, r.json()
    assert set(window.servers.values_list("pk", flat=True)) == {first.pk, second.pk}
    r = bob_client.patch(f"/api/maintenance-windows/{window.pk}/", {"servers": [make_server(bob).pk]}, format="json")
    assert r.status_code == 400 and "servers" in r.json()


# --- Basic-auth user names (SPEC §23: no ":").


def test_a_basic_auth_user_name_with_a_colon_is_refused(alice, alice_client):
    body = {"name": "s", "protocol": "https", "host": "shop.example.com", "basic_auth_username": "mon:itor"}
    r = alice_client.post("/api/servers/", body, format="json")
    assert r.status_code == 400 and "basic_auth_username" in r.json(), r.json()
    assert not Server.objects.exists()
    with pytest.raises(ValidationError) as caught:
        Server(owner=alice, name="s", host="shop.example.com", basic_auth_username="a:b").full_clean()
    assert "basic_auth_username" in caught.value.message_dict
    r = alice_client.post("/api/servers/", {**body, "basic_auth_username": "monitor"}, format="json")
    assert r.status_code == 201, r.json()


# --- /api/check-ssl/ ports (SPEC §23: 1-65535).


@pytest.mark.parametrize("url", ["https://example.com:0", "https://example.com:0/", "https://example.com:65536"])
def test_check_ssl_refuses_ports_outside_1_to_65535(alice_client, url):
    r = alice_client.get("/api/check-ssl/", {"url": url})
    assert r.status_code == 400 and "url" in r.json(), r.json()
