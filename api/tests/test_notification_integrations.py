"""Notification configs of the SPEC §18 types through the API: fields per type, templates, secrets."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import override_settings

from authentication.models import Membership, Role
from conftest import client_for
from monitoring.models import NotificationConfig
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db
URL = "/api/notification-configs/"


def create(client, server, **payload):
    return client.post(URL, {"server": server.pk, **payload}, format="json")


VALID = [
    {"notification_type": "telegram", "recipient": "-1001234", "secret": "1:tgTOKEN"},
    {"notification_type": "msteams", "recipient": "https://acme.webhook.office.com/webhookb2/x"},
    {"notification_type": "pagerduty", "secret": "R0UTKEY"},
    {"notification_type": "opsgenie", "secret": "genieKEY9"},
    {"notification_type": "ntfy", "recipient": "ops-alerts"},
    {"notification_type": "pushover", "recipient": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "secret": "appTOKEN7"},
    {"notification_type": "gotify", "secret": "gotifyTOK", "api_base_url": "https://push.example.com"},
    {
        "notification_type": "matrix",
        "recipient": "!abc:example.org",
        "secret": "sytMATRIX",
        "api_base_url": "https://m.org",
    },
    {"notification_type": "apprise", "recipient": "tgram://123456:abcdef/-100123"},
]


@pytest.mark.parametrize("payload", VALID, ids=[p["notification_type"] for p in VALID])
def test_each_type_is_created_with_its_fields_and_its_secret_shown_once(alice, alice_client, payload):
    server = make_server(alice)
    r = create(alice_client, server, **payload)
    assert r.status_code == 201, r.json()
    config = NotificationConfig.objects.get(pk=r.json()["id"])
    assert config.secret == payload.get("secret", "")  # no minimum length, nothing made up
    assert r.json().get("secret", "") == config.secret
    listed = alice_client.get(f"{URL}{config.pk}/").json()
    assert "secret" not in listed and listed["notification_type"] == payload["notification_type"]
    if config.secret:
        assert config.secret not in str(alice_client.get(URL).json())


@pytest.mark.parametrize(
    ("kind", "root"),
    [
        ("telegram", "https://api.telegram.org"),
        ("pagerduty", "https://events.pagerduty.com"),
        ("opsgenie", "https://api.opsgenie.com"),
        ("ntfy", "https://ntfy.sh"),
        ("pushover", "https://api.pushover.net"),
    ],
)
def test_api_base_url_defaults_per_type(alice, alice_client, kind, root):
    payload = next(p for p in VALID if p["notification_type"] == kind)
    r = create(alice_client, make_server(alice), **payload)
    assert r.status_code == 201 and r.json()["api_base_url"] == root


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"notification_type": "telegram", "recipient": "not a chat", "secret": "1:t"}, "recipient"),
        ({"notification_type": "telegram", "recipient": "42"}, "secret"),
        ({"notification_type": "telegram", "recipient": "42", "secret": "a/b"}, "secret"),
        ({"notification_type": "msteams", "recipient": "ftp://teams.example.com/x"}, "recipient"),
        ({"notification_type": "pagerduty"}, "secret"),
        ({"notification_type": "opsgenie", "api_base_url": "not a url", "secret": "k"}, "api_base_url"),
        ({"notification_type": "ntfy", "recipient": "bad topic!"}, "recipient"),
        ({"notification_type": "pushover", "recipient": "u-1", "secret": "a"}, "recipient"),
        ({"notification_type": "pushover", "recipient": "u1"}, "secret"),
        ({"notification_type": "gotify", "secret": "a"}, "api_base_url"),
        (
            {
                "notification_type": "matrix",
                "recipient": "#alias:m.org",
                "secret": "t",
                "api_base_url": "https://m.org",
            },
            "recipient",
        ),
        ({"notification_type": "matrix", "recipient": "!r:m.org", "api_base_url": "https://m.org"}, "secret"),
        ({"notification_type": "matrix", "recipient": "!r:m.org", "secret": "t"}, "api_base_url"),
        ({"notification_type": "apprise", "recipient": "nosuchscheme://x/y"}, "recipient"),
        ({"notification_type": "apprise", "recipient": "not a url"}, "recipient"),
        (
            {"notification_type": "webhook", "recipient": "https://h.example.com", "api_base_url": "https://x.com"},
            "api_base_url",
        ),
        ({"notification_type": "webhook", "recipient": "https://h.example.com", "secret": "short"}, "secret"),
        ({"notification_type": "email"}, "recipient"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(alice, alice_client, payload, field):
    r = create(alice_client, make_server(alice), **payload)
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not NotificationConfig.objects.exists()


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"notification_type": "msteams", "recipient": "http://127.0.0.1:8080/x"}, "recipient"),
        ({"notification_type": "gotify", "secret": "a", "api_base_url": "http://10.0.0.5"}, "api_base_url"),
        ({"notification_type": "ntfy", "recipient": "t", "api_base_url": "http://[::1]:80"}, "api_base_url"),
        ({"notification_type": "apprise", "recipient": "json://192.168.1.2/hook"}, "recipient"),
    ],
)
def test_a_private_address_is_refused_like_a_webhooks(alice, alice_client, payload, field):
    r = create(alice_client, make_server(alice), **payload)
    assert r.status_code == 400 and "private" in str(r.json()[field])


@pytest.mark.parametrize("field", ["title_template", "body_template"])
@pytest.mark.parametrize("template", ["{nope}", "{server.owner.password}", "{status!r}", "{time:%Y}", "{", "{0}"])
def test_an_unknown_placeholder_is_a_400_naming_the_field(alice, alice_client, field, template):
    r = create(alice_client, make_server(alice), notification_type="ntfy", recipient="t", **{field: template})
    assert r.status_code == 400 and list(r.json()) == [field], r.json()


def test_templates_with_every_placeholder_and_braces_are_kept(alice, alice_client):
    body = "{{literal}} {server.name} {server.url} {status} {previous_status} {message} {time} {downtime} "
    body += "{incident_url} {ack_url}"
    r = create(
        alice_client,
        make_server(alice),
        notification_type="ntfy",
        recipient="t",
        title_template="{status}",
        body_template=body,
    )
    assert r.status_code == 201 and r.json()["body_template"] == body and r.json()["title_template"] == "{status}"


def test_patching_the_type_resets_the_old_types_default_root(alice, alice_client):
    r = create(alice_client, make_server(alice), notification_type="ntfy", recipient="topic")
    r = alice_client.patch(
        f"{URL}{r.json()['id']}/", {"notification_type": "telegram", "recipient": "1", "secret": "k"}, format="json"
    )
    assert r.status_code == 200 and r.json()["api_base_url"] == "https://api.telegram.org"


def test_a_patch_keeps_the_stored_secret_and_judges_the_whole(alice, alice_client):
    r = create(
        alice_client,
        make_server(alice),
        notification_type="matrix",
        recipient="!r:m.org",
        secret="tok",
        api_base_url="https://m.org",
    )
    pk = r.json()["id"]
    assert alice_client.patch(f"{URL}{pk}/", {"recipient": "!s:m.org"}, format="json").status_code == 200
    r = alice_client.patch(f"{URL}{pk}/", {"api_base_url": ""}, format="json")
    assert r.status_code == 400 and "api_base_url" in r.json()
    assert NotificationConfig.objects.get(pk=pk).secret == "tok"


def test_a_viewer_sees_no_apprise_url_and_no_key_given_as_recipient(alice, alice_client):
    server = make_server(alice)
    create(alice_client, server, notification_type="apprise", recipient="tgram://123456:abcdef/-100")
    create(alice_client, server, notification_type="pagerduty", recipient="ROUTINGKEY")
    vera = get_user_model().objects.create_user("vera", password="pw-long-enough-1")
    Membership.objects.create(team=server.team, user=vera, role=Role.VIEWER)
    seen = client_for(vera).get(URL).json()
    text = str(seen)
    assert "abcdef" not in text and "ROUTINGKEY" not in text
    assert {c["notification_type"] for c in seen["results"]} == {"apprise", "pagerduty"}


def test_the_admin_form_judges_a_config_by_the_same_rules(alice):
    team = make_server(alice).team
    config = NotificationConfig(team=team, notification_type="gotify", secret="a", body_template="{x}")
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert {"api_base_url", "body_template"} <= set(caught.value.message_dict)


def test_an_import_refuses_a_bad_config_naming_its_field(alice, alice_client):
    document = {
        "servers": [
            {
                "name": "web",
                "protocol": "https",
                "host": "example.com",
                "notification_configs": [{"notification_type": "telegram", "recipient": "42"}],
            }
        ]
    }
    r = alice_client.post("/api/config/import/", document, format="json")
    assert r.status_code == 400 and "secret" in str(r.json())
