"""What a newcomer hit first: the browsable API's form, Location headers, redoc, the favicon, the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from monitoring.models import Server
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db


def test_an_html_form_post_without_checkboxes_keeps_the_model_defaults(alice):
    client = Client()
    client.force_login(alice)
    # What the browsable API's form sends when no checkbox is ticked: the booleans are absent.
    form = {"name": "form-made", "protocol": "https", "host": "shop.example.com", "check_interval": 60, "timeout": 10}
    r = client.post("/api/servers/", form)
    assert r.status_code == 201, r.content
    server = Server.objects.get(name="form-made")
    assert server.is_active and server.notifications and server.verify_tls
    assert server.status == "unknown"


def test_an_html_form_post_of_a_notification_config_keeps_it_enabled(alice):
    client = Client()
    client.force_login(alice)
    server = make_server(alice)
    r = client.post(
        "/api/notification-configs/", {"server": server.pk, "notification_type": "email", "recipient": "a@example.com"}
    )
    assert r.status_code == 201, r.content
    config = server.notification_configs.get()
    assert config.enabled and {"down", "recovery"} <= set(config.events)


def test_an_html_form_can_still_switch_a_boolean_off(alice):
    client = Client()
    client.force_login(alice)
    form = {"name": "off", "protocol": "https", "host": "shop.example.com", "verify_tls": "false"}
    assert client.post("/api/servers/", form).status_code == 201
    assert Server.objects.get(name="off").verify_tls is False


def test_creating_a_server_answers_the_location_of_the_api_object(alice_client):
    r = alice_client.post("/api/servers/", {"name": "loc", "host": "shop.example.com"}, format="json")
    assert r.status_code == 201
    assert r["Location"] == f"http://testserver/api/servers/{r.json()['id']}/"


def test_creating_a_notification_config_answers_its_location(alice, alice_client):
    server = make_server(alice)
    payload = {"server": server.pk, "notification_type": "email", "recipient": "ops@example.com"}
    r = alice_client.post("/api/notification-configs/", payload, format="json")
    assert r.status_code == 201 and r["Location"].endswith(f"/api/notification-configs/{r.json()['id']}/")


def test_redoc_loads_nothing_from_the_internet(anon_client):
    html = anon_client.get("/api/redoc/").content.decode()
    assert "redoc" in html.lower()
    assert "https://" not in html and "http://" not in html and "//fonts." not in html


def test_the_favicon_is_served(anon_client):
    r = anon_client.get("/favicon.ico")
    assert r.status_code == 200 and r["Content-Type"] == "image/x-icon"
    assert b"".join(r)[:4] == b"\x00\x00\x01\x00"  # an ICO header


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-password-1"))
    return client


def test_the_admin_edits_tags_as_a_comma_separated_line(admin_client, alice):
    server = make_server(alice, tags=["prod", "eu"])
    page = admin_client.get(f"/admin/monitoring/server/{server.pk}/change/").content.decode()
    assert 'value="prod, eu"' in page and "admin-server.js" in page and "http-options" in page
    form = {
        "name": server.name, "owner": alice.pk, "protocol": "tcp", "host": "db.example.com", "port": 5432,
        "path": "/", "tags": "db,  prod, db", "check_interval": 60, "timeout": 10, "retries": 1,
        "method": "GET", "expected_status_codes": "200-399", "is_active": "on",
        "max_redirects": 10, "request_headers": "{}", "assertions": "[]", "cert_expiry_alert_days": "[30, 14, 7, 1]",
        "grace_seconds": 60,
        "NotificationConfig_servers-TOTAL_FORMS": 0, "NotificationConfig_servers-INITIAL_FORMS": 0,
        "status_changes-TOTAL_FORMS": 0, "status_changes-INITIAL_FORMS": 0,
        "location_states-TOTAL_FORMS": 0, "location_states-INITIAL_FORMS": 0,
    }  # fmt: skip
    r = admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", form)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    server.refresh_from_db()
    assert server.tags == ["db", "prod"] and server.protocol == "tcp"
