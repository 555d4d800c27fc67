"""The notification API: configs (validation, write-only secret, test sends), deliveries, incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import DeliveryStatus, NotificationType
from monitoring.models import Incident, NotificationConfig, NotificationDelivery
from monitoring.tests.alerting import go_down, go_up, make_config, make_server, signature_ok

CONFIGS = "/api/notification-configs/"
DELIVERIES = "/api/notification-deliveries/"
INCIDENTS = "/api/incidents/"


def create(client, server, kind, recipient, **extra):
    return client.post(
        CONFIGS, {"server": server.pk, "notification_type": kind, "recipient": recipient, **extra}, format="json"
    )


@pytest.mark.parametrize(
    "kind,recipient",
    [
        ("email", "ops@example.com"),
        ("webhook", "https://hooks.example.com/pulse?team=ops"),
        ("webhook", "http://127.0.0.1:8080/hook"),
        ("discord", "https://discord.com/api/webhooks/1/abc"),
        ("slack", "https://hooks.slack.com/services/T/B/X"),
        ("sms", "+14155550123"),
    ],
)
def test_it_accepts_a_recipient_that_fits_the_type(alice, alice_client, kind, recipient):
    response = create(alice_client, make_server(alice), kind, recipient)
    assert response.status_code == 201, response.json()
    assert NotificationConfig.objects.get(pk=response.json()["id"]).recipient == recipient


@pytest.mark.parametrize(
    "kind,recipient",
    [
        ("email", "not-an-address"),
        ("email", "https://example.com/"),
        ("webhook", "ftp://example.com/hook"),
        ("webhook", "ops@example.com"),
        ("discord", "discord.com/api/webhooks/1"),
        ("slack", "javascript:alert(1)"),
        ("sms", "4155550123"),
        ("sms", "+0123456"),
        ("sms", "+1 415 555 0123"),
        ("email", "ops\x00@example.com"),
    ],
)
def test_it_answers_400_with_a_field_error_for_a_recipient_that_does_not_fit(alice, alice_client, kind, recipient):
    response = create(alice_client, make_server(alice), kind, recipient)
    assert response.status_code == 400
    assert "recipient" in response.json()
    assert NotificationConfig.objects.count() == 0


def test_changing_only_the_type_rechecks_the_recipient(alice, alice_client):
    config = make_config(make_server(alice), NotificationType.EMAIL, "ops@example.com")
    response = alice_client.patch(f"{CONFIGS}{config.pk}/", {"notification_type": "sms"}, format="json")
    assert response.status_code == 400 and "recipient" in response.json()
    config.refresh_from_db()
    assert config.notification_type == NotificationType.EMAIL


def test_the_secret_is_generated_and_shown_once_in_the_create_response(alice, alice_client):
    response = create(alice_client, make_server(alice), "webhook", "https://hooks.example.com/x")
    assert response.status_code == 201
    secret = response.json()["secret"]
    config = NotificationConfig.objects.get(pk=response.json()["id"])
    assert config.secret == secret and len(secret) >= 32

    detail = alice_client.get(f"{CONFIGS}{config.pk}/").json()
    listing = alice_client.get(CONFIGS).json()["results"]
    patched = alice_client.patch(f"{CONFIGS}{config.pk}/", {"enabled": False}, format="json").json()
    for body in (detail, listing[0], patched):
        assert "secret" not in body and secret not in str(body)


def test_a_given_secret_is_kept_and_an_empty_one_asks_for_a_new_one(alice, alice_client):
    response = create(alice_client, make_server(alice), "webhook", "https://h.example.com/", secret="x" * 20)
    assert response.json()["secret"] == "x" * 20
    pk = response.json()["id"]
    rotated = alice_client.patch(f"{CONFIGS}{pk}/", {"secret": ""}, format="json").json()
    assert rotated["secret"] == NotificationConfig.objects.get(pk=pk).secret != "x" * 20
    short = alice_client.patch(f"{CONFIGS}{pk}/", {"secret": "short"}, format="json")
    assert short.status_code == 400 and "secret" in short.json()


def test_two_configs_get_different_secrets(alice):
    server = make_server(alice)
    one = NotificationConfig.objects.create_for(server, notification_type="webhook", recipient="https://a.example/")
    two = NotificationConfig.objects.create_for(server, notification_type="webhook", recipient="https://b.example/")
    assert one.secret and two.secret and one.secret != two.secret


def test_cooldown_defaults_to_the_setting(alice, alice_client, settings):
    settings.NOTIFICATION_COOLDOWN_MINUTES = 42
    response = create(alice_client, make_server(alice), "email", "ops@example.com")
    assert response.json()["cooldown_minutes"] == 42


def test_the_test_action_sends_a_signed_test_message_and_says_it_was_delivered(alice, alice_client, http_target):
    http_target.set("/hook", 200)
    server = make_server(alice)
    response = create(alice_client, server, "webhook", http_target.url("/hook"))
    pk, secret = response.json()["id"], response.json()["secret"]

    result = alice_client.post(f"{CONFIGS}{pk}/test/")
    assert result.status_code == 200
    body = result.json()
    assert body["delivered"] is True and body["error"] is None
    [request] = http_target.requests
    assert request.json()["event"] == "test" and request.json()["server"]["id"] == server.pk
    assert signature_ok(secret, request.body, request.headers["X-PulseGuard-Signature"])
    row = NotificationDelivery.objects.get(pk=body["delivery"])
    assert (row.event, row.status, row.change, row.attempts) == ("test", DeliveryStatus.SENT, None, 1)


def test_the_test_action_reports_a_failure_and_does_not_retry_it(alice, alice_client, http_target):
    http_target.set("/hook", 500, "down for maintenance")
    config = make_config(make_server(alice), recipient=http_target.url("/hook"))
    body = alice_client.post(f"{CONFIGS}{config.pk}/test/").json()
    assert body["delivered"] is False and body["error"] == "HTTP 500: down for maintenance"
    assert NotificationDelivery.objects.get().status == DeliveryStatus.FAILED
    assert NotificationDelivery.objects.due(timezone.now() + timedelta(days=1)).count() == 0


def test_the_test_action_sends_an_email_through_smtp(alice, alice_client, smtp_server):
    config = make_config(make_server(alice), NotificationType.EMAIL, "ops@example.com")
    assert alice_client.post(f"{CONFIGS}{config.pk}/test/").json()["delivered"] is True
    assert smtp_server.messages[0]["Subject"] == "[PulseGuard] Test notification for web"


def test_a_stranger_gets_404_for_another_users_config_delivery_and_incident(alice, charlie_client, http_target):
    server = make_server(alice)
    config = make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    delivery = NotificationDelivery.objects.get()
    incident = Incident.objects.get()
    assert charlie_client.post(f"{CONFIGS}{config.pk}/test/").status_code == 404
    assert charlie_client.get(f"{DELIVERIES}{delivery.pk}/").status_code == 404
    assert charlie_client.get(f"{INCIDENTS}{incident.pk}/").status_code == 404
    assert charlie_client.get(DELIVERIES).json()["results"] == []
    assert charlie_client.get(INCIDENTS).json()["results"] == []
    assert http_target.requests == []
    assert create(charlie_client, server, "email", "x@example.com").status_code == 400


def test_staff_see_everyones_deliveries_and_incidents(alice, bob_client):
    server = make_server(alice)
    make_config(server)
    go_down(server)
    assert len(bob_client.get(DELIVERIES).json()["results"]) == 1
    assert len(bob_client.get(INCIDENTS).json()["results"]) == 1


def test_deliveries_are_read_only_and_filter_by_server_config_status_and_event(alice, alice_client):
    web, db = make_server(alice, name="web"), make_server(alice, name="db")
    hook, mail = make_config(web), make_config(web, NotificationType.EMAIL, "ops@example.com")
    make_config(db)
    for server in (web, db):
        go_up(server)
        go_down(server)
    go_up(web)
    NotificationDelivery.objects.filter(config=mail).update(status=DeliveryStatus.SENT)

    def ids(query: str) -> set[int]:
        response = alice_client.get(f"{DELIVERIES}?{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    def rows(**filters) -> set[int]:
        return set(NotificationDelivery.objects.filter(**filters).values_list("id", flat=True))

    assert ids(f"server={web.pk}") == rows(config__servers=web) and len(rows(config__servers=web)) == 4
    assert ids(f"config={hook.pk}") == rows(config=hook)
    assert ids("status=sent") == rows(config=mail)
    assert ids("event=recovery") == rows(event="recovery") and len(rows(event="recovery")) == 2
    assert ids("event=down&status=pending") == rows(event="down", status="pending")
    assert alice_client.get(f"{DELIVERIES}?status=bogus").status_code == 400

    row = alice_client.get(f"{DELIVERIES}{next(iter(rows(config=hook)))}/").json()
    assert {"config", "server", "event", "status", "attempts", "next_attempt_at", "last_error"} <= set(row)
    assert "secret" not in str(row) and hook.secret not in str(row)
    assert alice_client.post(DELIVERIES, {}, format="json").status_code == 405
    assert alice_client.delete(f"{DELIVERIES}{row['id']}/").status_code == 405


def test_incidents_filter_by_server_open_and_since(alice, alice_client):
    web, db = make_server(alice, name="web"), make_server(alice, name="db")
    long_ago = timezone.now() - timedelta(days=3)
    go_up(web, long_ago)
    go_down(web, long_ago + timedelta(minutes=1))
    go_up(web, long_ago + timedelta(minutes=11))
    go_down(db)

    def names(query: str) -> list[tuple[str, bool]]:
        response = alice_client.get(f"{INCIDENTS}?{query}")
        assert response.status_code == 200, response.json()
        return [(row["server_name"], row["is_open"]) for row in response.json()["results"]]

    assert names("") == [("db", True), ("web", False)]
    assert names(f"server={web.pk}") == [("web", False)]
    assert names("open=true") == [("db", True)]
    assert names("open=false") == [("web", False)]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert alice_client.get(INCIDENTS, {"since": since}).json()["results"][0]["server_name"] == "db"
    assert len(alice_client.get(INCIDENTS, {"since": since}).json()["results"]) == 1
    closed = alice_client.get(f"{INCIDENTS}?open=false").json()["results"][0]
    assert closed["duration_seconds"] == 600 and closed["first_error"] == "HTTP 500: oops"
    assert alice_client.post(INCIDENTS, {}, format="json").status_code == 405


def test_listing_deliveries_and_incidents_takes_a_fixed_number_of_queries(
    alice, alice_client, django_assert_max_num_queries
):
    for n in range(8):
        server = make_server(alice, name=f"s{n}")
        make_config(server)
        make_config(server, NotificationType.EMAIL, "ops@example.com")
        go_down(server)
    assert NotificationDelivery.objects.count() == 16
    # Authentication, count, page: no query per row.
    with django_assert_max_num_queries(4):
        assert len(alice_client.get(DELIVERIES).json()["results"]) == 16
    with django_assert_max_num_queries(4):
        assert len(alice_client.get(INCIDENTS).json()["results"]) == 8
    # And the configs' servers (SPEC §18), one query for the page.
    with django_assert_max_num_queries(5):
        assert len(alice_client.get(CONFIGS).json()["results"]) == 16
