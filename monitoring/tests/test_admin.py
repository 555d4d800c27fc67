"""The operators' admin: every model's pages load, and the check/pause/resume actions work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from monitoring.choices import Status
from monitoring.models import NotificationConfig, PingResult, ProbeLocation, Server, StatusChange
from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-password-1"))
    return client


@pytest.mark.parametrize("model", ["server", "pingresult", "serverstatus", "statuschange", "notificationconfig"])
def test_every_model_has_a_changelist_with_search_and_filters(admin_client, alice, model):
    server = make_server(alice, name="findme")
    make_ping(server)
    NotificationConfig.objects.create_for(server, notification_type="email", recipient="ops@example.com")
    r = admin_client.get(f"/admin/monitoring/{model}/?q=findme")
    assert r.status_code == 200
    assert "findme" in r.content.decode()


def test_the_server_page_shows_notification_configs_inline(admin_client, alice):
    server = make_server(alice)
    NotificationConfig.objects.create_for(server, notification_type="email", recipient="inline@example.com")
    r = admin_client.get(f"/admin/monitoring/server/{server.pk}/change/")
    assert r.status_code == 200 and "inline@example.com" in r.content.decode()


def test_the_depends_on_picker_never_offers_the_server_itself(admin_client, alice):
    web = Server.objects.create(owner=alice, name="web", host="127.0.0.1")
    db = Server.objects.create(owner=alice, name="db", host="127.0.0.1")
    page = admin_client.get(f"/admin/monitoring/server/{web.pk}/change/").content.decode()
    picker = page[page.index('name="depends_on"') :]
    picker = picker[: picker.index("</select>")]
    assert f'value="{db.pk}"' in picker and f'value="{web.pk}"' not in picker


def test_check_now_action_runs_a_check(admin_client, alice, http_target):
    http_target.set("/", 200, "ok")
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    r = admin_client.post(
        "/admin/monitoring/server/", {"action": "check_now", "_selected_action": [server.pk]}, follow=True
    )
    assert r.status_code == 200
    assert PingResult.objects.filter(server=server).count() == 1
    assert Server.objects.get(pk=server.pk).status == Status.UP


def test_pause_and_resume_actions(admin_client, alice):
    server = make_server(alice)
    admin_client.post("/admin/monitoring/server/", {"action": "pause", "_selected_action": [server.pk]})
    assert Server.objects.get(pk=server.pk).status == Status.PAUSED
    admin_client.post("/admin/monitoring/server/", {"action": "resume", "_selected_action": [server.pk]})
    server.refresh_from_db()
    assert server.status == Status.UNKNOWN and server.is_active


def add_form(owner: User, **fields: object) -> dict[str, object]:
    """The admin's add-server form, filled in validly unless ``fields`` say otherwise."""
    form: dict[str, object] = {
        "name": "from-admin", "owner": owner.pk, "protocol": "https", "host": "example.org", "path": "/",
        "tags": "[]", "is_active": "on", "check_interval": 60, "timeout": 10, "retries": 1, "method": "GET",
        "expected_status_codes": "200-399", "verify_tls": "on", "notifications": "on", "grace_seconds": 60,
        "schedule_timezone": "UTC",
        "request_headers": "{}", "assertions": "[]", "max_redirects": 10, "cert_expiry_alert_days": "[30, 14, 7, 1]",
        "NotificationConfig_servers-TOTAL_FORMS": 0, "NotificationConfig_servers-INITIAL_FORMS": 0,
        "status_changes-TOTAL_FORMS": 0, "status_changes-INITIAL_FORMS": 0,
        "location_states-TOTAL_FORMS": 0, "location_states-INITIAL_FORMS": 0,
    }  # fmt: skip
    form.update(fields)
    return form


def test_adding_a_server_in_the_admin_creates_its_status(admin_client, alice):
    r = admin_client.post("/admin/monitoring/server/add/", add_form(alice))
    assert r.status_code == 302, r.content.decode()[:2000]
    server = Server.objects.get(name="from-admin")
    assert server.server_status.status == Status.UNKNOWN


def test_the_admin_sets_a_servers_locations_and_quorum(admin_client, alice):
    paris = ProbeLocation.objects.create(name="Paris", slug="paris")
    form = add_form(alice, quorum=1, **{"location_states-TOTAL_FORMS": 1, "location_states-0-location": paris.pk,
                                        "location_states-0-position": 0})  # fmt: skip
    r = admin_client.post("/admin/monitoring/server/add/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    server = Server.objects.get(name="from-admin")
    assert server.quorum == 1
    assert list(server.location_states.values_list("location__slug", flat=True)) == ["paris"]
    assert admin_client.get(f"/admin/monitoring/probelocation/{paris.pk}/change/").status_code == 200


def test_the_admin_refuses_a_bad_host_and_a_tcp_server_without_port(admin_client, alice):
    form = add_form(alice, name="bad", protocol="tcp", host="http://nope", expected_status_codes="abc")
    r = admin_client.post("/admin/monitoring/server/add/", form)
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert {"host", "expected_status_codes", "port"} <= set(errors)
    assert not Server.objects.filter(name="bad").exists()


def test_the_admin_edits_http_options_and_never_shows_the_password(admin_client, alice):
    form = add_form(
        alice,
        request_headers='{"X-Key": "k"}',
        assertions='[{"source": "json:$.status", "op": "==", "value": "ok"}]',
        basic_auth_username="mon",
        basic_auth_password="admin-secret-pw",
        keyword_absent="on",
        keyword="maintenance",
    )
    assert admin_client.post("/admin/monitoring/server/add/", form).status_code == 302
    server = Server.objects.get(name="from-admin")
    assert server.basic_auth_password == "admin-secret-pw" and server.request_headers == {"X-Key": "k"}
    for url in ("/admin/monitoring/server/", f"/admin/monitoring/server/{server.pk}/change/"):
        page = admin_client.get(url)
        assert page.status_code == 200 and "admin-secret-pw" not in page.content.decode()
    # Saving again with the password box blank keeps it; an emptied JSON box means none.
    edit = add_form(alice, basic_auth_username="mon", request_headers="", assertions="[]")
    assert admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", edit).status_code == 302
    server.refresh_from_db()
    assert server.basic_auth_password == "admin-secret-pw" and server.request_headers == {}
    edit["clear_basic_auth_password"] = "on"
    assert admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", edit).status_code == 302
    server.refresh_from_db()
    assert server.basic_auth_password == ""


def test_the_admin_refuses_a_bad_assertion_by_its_index(admin_client, alice):
    form = add_form(alice, assertions='[{"source": "body", "op": "like", "value": 1}]')
    r = admin_client.post("/admin/monitoring/server/add/", form)
    assert r.status_code == 200
    assert r.context["adminform"].form.errors["assertions"] == ["item 0: unknown op 'like'"]


def test_maintenance_windows_have_a_changelist_with_the_active_filter_and_a_form(admin_client, alice):
    from datetime import time

    from monitoring.models import MaintenanceWindow

    always = MaintenanceWindow.objects.create(
        owner=alice, name="always-on", tags=["prod"], recurrence="daily", start_time=time(0), duration_minutes=1440
    )
    r = admin_client.get("/admin/monitoring/maintenancewindow/?active=yes&q=always")
    assert r.status_code == 200 and "always-on" in r.content.decode()
    r = admin_client.get("/admin/monitoring/maintenancewindow/?active=no")
    assert r.status_code == 200 and "always-on" not in r.content.decode()
    assert admin_client.get(f"/admin/monitoring/maintenancewindow/{always.pk}/change/").status_code == 200


def test_check_now_on_a_push_server_only_warns(admin_client, alice):
    server = Server.objects.create(owner=alice, name="cron", protocol="push")
    r = admin_client.post(
        "/admin/monitoring/server/", {"action": "check_now", "_selected_action": [server.pk]}, follow=True
    )
    assert r.status_code == 200 and "never checked" in r.content.decode()
    assert not PingResult.objects.filter(server=server).exists()
    assert admin_client.get(f"/admin/monitoring/server/{server.pk}/change/").status_code == 200


def test_adding_a_push_server_in_the_admin_needs_no_host_and_gives_it_a_token(admin_client, alice):
    r = admin_client.post("/admin/monitoring/server/add/", add_form(alice, name="cron", protocol="push", host=""))
    assert r.status_code == 302, r.content.decode()[:2000]
    server = Server.objects.get(name="cron")
    assert len(server.push_token) >= 32 and server.push_deadline_at is not None
    r = admin_client.post("/admin/monitoring/server/add/", add_form(alice, name="nohost", host=""))
    assert r.status_code == 200 and "host" in r.context["adminform"].form.errors


def test_a_push_server_in_the_admin_takes_a_cron_schedule_and_refuses_a_bad_one(admin_client, alice):
    form = add_form(alice, name="nightly", protocol="push", host="", schedule="0 3 * * *")
    r = admin_client.post("/admin/monitoring/server/add/", form | {"schedule_timezone": "Europe/Berlin"})
    assert r.status_code == 302, r.content.decode()[:2000]
    server = Server.objects.get(name="nightly")
    assert (server.schedule, server.schedule_timezone) == ("0 3 * * *", "Europe/Berlin")
    r = admin_client.post(
        "/admin/monitoring/server/add/", add_form(alice, name="bad", protocol="push", host="", schedule="3 am")
    )
    assert r.status_code == 200 and "schedule" in r.context["adminform"].form.errors
    r = admin_client.post("/admin/monitoring/server/add/", add_form(alice, name="web", schedule="0 3 * * *"))
    assert r.status_code == 200 and "schedule" in r.context["adminform"].form.errors


def test_unticking_is_active_in_the_change_form_pauses_the_server_like_the_action(admin_client, alice):
    """Issue 14 A.2: the change form went around the engine: an "up" server was left up, never
    checked again, with no status change (and no live event)."""
    server = make_server(alice, name="from-admin", host="example.org")
    Server.objects.filter(pk=server.pk).update(status=Status.UP)
    server.server_status.status = Status.UP
    server.server_status.save()
    edit = add_form(alice)
    del edit["is_active"]  # an unticked box is not sent
    assert admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", edit).status_code == 302
    server.refresh_from_db()
    assert (server.is_active, server.status, server.server_status.status) == (False, Status.PAUSED, Status.PAUSED)
    change = StatusChange.objects.get(server=server)
    assert (change.previous_status, change.status) == (Status.UP, Status.PAUSED)

    edit["is_active"] = "on"
    before = timezone.now()
    assert admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", edit).status_code == 302
    server.refresh_from_db()
    assert server.is_active and server.status == Status.UNKNOWN
    assert before <= server.next_check_at <= timezone.now(), "resumed: due at once"


def test_an_edit_of_the_target_in_the_change_form_is_checked_at_once(admin_client, alice):
    server = make_server(alice, name="from-admin", host="example.org")
    Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now() + timedelta(minutes=1))
    before = timezone.now()
    edit = add_form(alice, host="example.net")
    assert admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", edit).status_code == 302
    server.refresh_from_db()
    assert server.host == "example.net" and before <= server.next_check_at <= timezone.now()
    # A rename alone leaves the schedule alone.
    Server.objects.filter(pk=server.pk).update(next_check_at=before + timedelta(minutes=1))
    admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", add_form(alice, host="example.net", name="b"))
    assert Server.objects.get(pk=server.pk).next_check_at == before + timedelta(minutes=1)


def test_the_admin_judges_a_notification_config_by_its_type_and_never_shows_its_secret(admin_client, alice):
    server = make_server(alice)
    form = {"team": server.team_id, "servers": [server.pk], "notification_type": "telegram", "recipient": "42"}
    form |= {"cooldown_minutes": 15, "enabled": "on", "events": '["down", "recovery"]'}
    r = admin_client.post("/admin/monitoring/notificationconfig/add/", form)
    assert r.status_code == 200 and "secret" in r.context["adminform"].form.errors
    r = admin_client.post("/admin/monitoring/notificationconfig/add/", form | {"secret": "1:bot-token-xyz"})
    assert r.status_code == 302
    config = NotificationConfig.objects.get(servers=server)
    assert config.secret == "1:bot-token-xyz" and config.api_base_url == "https://api.telegram.org"
    page = admin_client.get(f"/admin/monitoring/notificationconfig/{config.pk}/change/")
    assert "bot-token-xyz" not in page.content.decode()
    # Saved again with the box empty, the token stays.
    assert admin_client.post(f"/admin/monitoring/notificationconfig/{config.pk}/change/", form).status_code == 302
    config.refresh_from_db()
    assert config.secret == "1:bot-token-xyz"


def test_the_admin_takes_a_dsn_write_only_and_the_host_from_it(admin_client, alice):
    form = add_form(alice, protocol="postgres", host="", dsn="postgresql://mon:admin-dsn-pw@db.example.org:6432/app")
    r = admin_client.post("/admin/monitoring/server/add/", form)
    assert r.status_code == 302, r.context["adminform"].form.errors
    server = Server.objects.get(name="from-admin")
    assert (server.host, server.port, server.ping_count) == ("db.example.org", 6432, 3)
    page = admin_client.get(f"/admin/monitoring/server/{server.pk}/change/")
    assert page.status_code == 200 and "admin-dsn-pw" not in page.content.decode()
    # Saved again with the dsn box blank: kept.
    assert (
        admin_client.post(
            f"/admin/monitoring/server/{server.pk}/change/", add_form(alice, protocol="postgres")
        ).status_code
        == 302
    )
    server.refresh_from_db()
    assert server.dsn == "postgresql://mon:admin-dsn-pw@db.example.org:6432/app" and server.host == "db.example.org"


def test_the_admin_refuses_a_field_of_another_kind(admin_client, alice):
    r = admin_client.post("/admin/monitoring/server/add/", add_form(alice, protocol="tcp", port=22, ws_send="hi"))
    assert r.status_code == 200
    assert "ws_send" in r.context["adminform"].form.errors
