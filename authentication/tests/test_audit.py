"""The audit log (SPEC §17): a row for every change by a person or a key, read by team admins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from authentication import audit, keys
from authentication.models import ApiKey, AuditEntry, Membership, Role, Team
from conftest import client_for
from monitoring.models import CertificateCheck, NotificationConfig, Server
from monitoring.services.history.retention import prune_audit
from monitoring.tasks import engine
from monitoring.tasks.rollups import prune_step
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db

MASK = "••••"
VALID = {"name": "Shop", "protocol": "https", "host": "shop.example.com", "check_interval": 60, "timeout": 5}


def rows(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def only_row(**filters) -> AuditEntry:
    found = rows(**filters)
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def ops(alice, charlie):
    """A shared team: alice owns it, charlie is a member."""
    team = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(team=team, user=alice, role=Role.OWNER)
    Membership.objects.create(team=team, user=charlie, role=Role.MEMBER)
    return team


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("root", "root@example.com", "root-password-1")
    client.login(username="root", password="root-password-1")
    return client


# --- the diff ------------------------------------------------------------------------------


def test_the_diff_keeps_changed_fields_only_masks_secrets_and_skips_timestamps(alice):
    server = make_server(alice, basic_auth_password="hunter2", request_headers={"Authorization": "Bearer abc"})
    before = audit.snapshot(server)
    server.name = "renamed"
    server.basic_auth_password = "hunter3"
    server.request_headers = {"Authorization": "Bearer xyz", "X-Trace": "1"}
    server.updated_at = timezone.now() + timedelta(days=1)
    server.next_check_at = timezone.now() + timedelta(days=1)
    changes = audit.diff(before, audit.snapshot(server))
    assert changes == {
        "name": ["web", "renamed"],
        "basic_auth_password": [MASK, MASK],
        "request_headers": [{"Authorization": MASK}, {"Authorization": MASK, "X-Trace": MASK}],
    }
    assert "hunter" not in str(changes) and "Bearer" not in str(changes)


def test_the_diff_shows_a_secret_set_or_cleared_and_values_as_json(alice):
    server = make_server(alice)
    before = {**audit.snapshot(server), "when": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "api_key": "k"}
    after = {**audit.snapshot(server), "basic_auth_password": "pw", "when": None, "api_key": ""}
    before["basic_auth_password"] = ""
    assert audit.diff(before, after) == {
        "api_key": [MASK, ""],
        "basic_auth_password": ["", MASK],
        "when": ["2026-01-02T03:04:00Z", None],
    }


def test_a_password_in_a_url_is_masked():
    assert (
        audit.shown("recipient", "https://bot:s3cret@hooks.example.com/x") == f"https://bot:{MASK}@hooks.example.com/x"
    )


# --- rows for changes through the API ------------------------------------------------------


def test_creating_a_server_records_its_values_with_the_password_masked(alice, alice_client):
    r = alice_client.post(
        "/api/servers/", dict(VALID, basic_auth_username="u", basic_auth_password="hunter2"), format="json"
    )
    assert r.status_code == 201, r.content
    row = only_row(action="create")
    assert (row.actor_type, row.actor_id, row.actor_name, row.actor_ref) == ("user", alice.pk, "alice", str(alice.pk))
    assert row.team_id == alice.personal_team.pk
    assert (row.object_type, row.object_id, row.object_name) == ("server", str(r.json()["id"]), "Shop")
    assert row.changes["name"] == [None, "Shop"]
    assert row.changes["basic_auth_password"] == [None, MASK]
    assert "created_at" not in row.changes and "hunter2" not in str(row.changes)
    assert row.ip == "127.0.0.1"


def test_creating_in_a_named_team_records_that_team(alice, alice_client, ops):
    r = alice_client.post("/api/servers/", dict(VALID, team="ops"), format="json")
    assert r.status_code == 201, r.content
    assert only_row(action="create").team_id == ops.pk


def test_an_update_records_old_and_new_values_of_the_changed_fields(alice, alice_client):
    server = make_server(alice, name="Shop", check_interval=60)
    r = alice_client.patch(
        f"/api/servers/{server.pk}/", {"name": "Shop 2", "check_interval": 120, "timeout": server.timeout}
    )
    assert r.status_code == 200, r.content
    row = only_row(action="update")
    assert row.changes == {"name": ["Shop", "Shop 2"], "check_interval": [60, 120]}
    assert (row.object_id, row.object_name, row.team_id) == (str(server.pk), "Shop 2", alice.personal_team.pk)


def test_an_update_that_changes_nothing_records_nothing(alice, alice_client):
    server = make_server(alice, name="Shop")
    assert alice_client.patch(f"/api/servers/{server.pk}/", {"name": "Shop"}).status_code == 200
    assert not rows(action="update")


def test_a_password_change_is_recorded_masked(alice, alice_client):
    server = make_server(alice, basic_auth_username="u", basic_auth_password="old-secret")
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"basic_auth_password": "new-secret"}, format="json")
    assert r.status_code == 200, r.content
    assert only_row(action="update").changes == {"basic_auth_password": [MASK, MASK]}


def test_a_dsn_change_is_recorded_masked(alice, alice_client):
    server = make_server(
        alice, protocol="postgres", dsn="postgresql://u:old-pw@db.example.com/x", host="db.example.com", port=5432
    )
    r = alice_client.patch(
        f"/api/servers/{server.pk}/", {"dsn": "postgresql://u:new-pw@db.example.com/x"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert only_row(action="update").changes == {"dsn": [MASK, MASK]}


def test_a_change_of_a_pages_servers_records_their_ids(alice, alice_client):
    a, b = make_server(alice, name="a"), make_server(alice, name="b")
    r = alice_client.post("/api/status-pages/", {"slug": "acme", "title": "Acme", "servers": [a.pk]}, format="json")
    assert r.status_code == 201, r.content
    assert only_row(action="create").changes["servers"] == [None, [a.pk]]
    r = alice_client.patch(f"/api/status-pages/{r.json()['id']}/", {"servers": [a.pk, b.pk]}, format="json")
    assert r.status_code == 200, r.content
    assert only_row(action="update").changes == {"servers": [[a.pk], [a.pk, b.pk]]}


def test_an_address_that_is_not_an_ip_is_left_out(alice):
    request = SimpleNamespace(user=alice, META={"REMOTE_ADDR": "unix:/run/pulseguard.sock"})
    assert audit.record(request, "check", team_id=alice.personal_team.pk).ip is None


def test_a_delete_records_the_object_it_removed(alice, alice_client):
    server = make_server(alice, name="Gone")
    assert alice_client.delete(f"/api/servers/{server.pk}/").status_code == 204
    row = only_row(action="delete")
    assert (row.object_type, row.object_id, row.object_name) == ("server", str(server.pk), "Gone")
    assert row.team_id == alice.personal_team.pk and not Server.objects.exists()


def test_a_refused_change_records_nothing(alice, charlie_client):
    server = make_server(alice)
    assert charlie_client.patch(f"/api/servers/{server.pk}/", {"name": "x"}).status_code == 404
    assert charlie_client.delete(f"/api/servers/{server.pk}/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_notification_config_secrets_are_masked_on_create_and_rotation(alice, alice_client):
    server = make_server(alice)
    payload = {"server": server.pk, "notification_type": "webhook", "recipient": "https://hooks.example.com/x"}
    r = alice_client.post("/api/notification-configs/", dict(payload, secret="s" * 32), format="json")
    assert r.status_code == 201, r.content
    created = only_row(action="create", object_type="notificationconfig")
    assert created.changes["secret"] == [None, MASK] and created.team_id == server.team_id
    r = alice_client.patch(f"/api/notification-configs/{r.json()['id']}/", {"secret": ""}, format="json")
    assert r.status_code == 200, r.content
    assert only_row(action="update").changes == {"secret": [MASK, MASK]}
    assert "s" * 32 not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


def test_sending_a_test_notification_is_not_a_change(alice, alice_client):
    server = make_server(alice)
    config = NotificationConfig.objects.create_for(server, notification_type="email", recipient="a@example.com")
    with mock.patch("monitoring.services.alerts.delivery.send_test") as send:
        send.return_value = SimpleNamespace(status="sent", last_error="", pk=1)
        assert alice_client.post(f"/api/notification-configs/{config.pk}/test/").status_code == 200
    assert not AuditEntry.objects.exists()


def test_pause_and_resume_are_recorded(alice, alice_client):
    server = make_server(alice)
    assert alice_client.post(f"/api/servers/{server.pk}/pause/").status_code == 200
    assert alice_client.post(f"/api/servers/{server.pk}/resume/").status_code == 200
    assert [(r.action, r.object_id) for r in rows()] == [("pause", str(server.pk)), ("resume", str(server.pk))]


def test_check_now_is_recorded(alice, alice_client, http_target):
    http_target.set("/", 200, "ok")
    server = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    assert alice_client.post(f"/api/servers/{server.pk}/check/").status_code == 200
    row = only_row(action="check")
    assert (row.object_id, row.team_id, row.changes) == (str(server.pk), server.team_id, {})


def test_a_certificate_check_now_is_a_check(alice, alice_client):
    server = make_server(alice, protocol="https")
    check = CertificateCheck.objects.create(server=server, valid=True)
    with mock.patch.object(engine, "run_certificate_checks", return_value=[check]):
        assert alice_client.post(f"/api/servers/{server.pk}/certificate/").status_code == 200
    assert only_row(action="check").changes == {"certificate": [None, "checked"]}


def test_a_new_push_token_is_an_update_with_the_token_masked(alice, alice_client):
    server = make_server(alice, protocol="push", host="", push_token="old-token")
    assert alice_client.post(f"/api/servers/{server.pk}/push-token/").status_code == 200
    assert only_row(action="update").changes == {"push_token": [MASK, MASK]}


def test_an_import_is_one_row_with_its_counts_in_the_importing_team(alice, alice_client, ops):
    doc = {"version": 1, "servers": [{"name": "A", "protocol": "tcp", "host": "a.example.com", "port": 22}]}
    assert alice_client.post("/api/config/import/?dry_run=true&team=ops", doc, format="json").status_code == 200
    assert not AuditEntry.objects.exists()
    r = alice_client.post("/api/config/import/?team=ops", doc, format="json")
    assert r.status_code == 200, r.content
    row = only_row()
    assert (row.action, row.team_id, row.object_type) == ("import", ops.pk, "config")
    assert row.changes == {"created": [None, 1], "updated": [None, 0], "unchanged": [None, 0]}


def test_a_bad_import_records_nothing(alice, alice_client):
    assert alice_client.post("/api/config/import/", {"version": 2}, format="json").status_code == 400
    assert not AuditEntry.objects.exists()


def test_a_bulk_check_records_one_check_per_server_in_its_own_team(alice, charlie, bob, bob_client, http_target):
    http_target.set("/", 200)
    a = make_server(alice, protocol="http", host="127.0.0.1", port=http_target.port)
    c = make_server(charlie, protocol="http", host="127.0.0.1", port=http_target.port)
    assert bob_client.post("/api/checks/run/", {}, format="json").status_code == 200
    found = {(r.object_id, r.team_id, r.actor_id) for r in rows(action="check")}
    assert found == {(str(a.pk), a.team_id, bob.pk), (str(c.pk), c.team_id, bob.pk)}


def test_a_key_is_recorded_as_the_actor(alice, ops):
    key = ApiKey.objects.create(team=ops, name="deploy", scope="write", prefix="pgk_abcd1234", key_hash="x" * 64)
    principal = SimpleNamespace(api_key=key, is_authenticated=True, is_staff=False, pk=None)
    request = SimpleNamespace(user=principal, META={"REMOTE_ADDR": "192.0.2.7"})
    row = audit.record(request, "create", team_id=ops.pk, obj=make_server(alice, team=ops))
    row.refresh_from_db()
    assert (row.actor_type, row.actor_id, row.actor_name, row.actor_ref) == (
        "key",
        key.pk,
        "deploy",
        "key:pgk_abcd1234",
    )
    assert row.ip == "192.0.2.7"


def test_a_change_through_the_api_with_a_key_names_the_key(alice, ops):
    key, raw = keys.create(ops, "deploy", "write", alice)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    r = client.post("/api/servers/", VALID, format="json")
    assert r.status_code == 201, r.content
    row = only_row(action="create")
    assert (row.actor_type, row.actor_id, row.actor_name, row.actor_ref) == (
        "key",
        key.pk,
        "deploy",
        f"key:{key.prefix}",
    )
    assert row.team_id == ops.pk
    # A key acts as a member: it reads no audit rows.
    assert client.get("/api/audit-log/").json()["results"] == []
    found = client_for(alice).get(f"/api/audit-log/?actor=key:{key.prefix}").json()["results"]
    assert [(r["actor"], r["action"]) for r in found if r["action"] == "create"] == [
        ({"type": "key", "id": key.pk, "name": "deploy"}, "create")
    ]


# --- GET /api/audit-log/ ---------------------------------------------------------------------


def add_row(team, action="create", *, actor=None, when=None, object_type="server", **fields) -> AuditEntry:
    return AuditEntry.objects.create(
        time=when or timezone.now(),
        team=team,
        action=action,
        actor_type="user" if actor is not None or "actor_ref" not in fields else "key",
        actor_id=getattr(actor, "pk", None),
        actor_name=getattr(actor, "username", ""),
        actor_ref=fields.pop("actor_ref", str(getattr(actor, "pk", ""))),
        object_type=object_type,
        **fields,
    )


def test_a_row_has_the_documented_shape(alice, alice_client):
    row = add_row(
        alice.personal_team, "update", actor=alice, object_id="7", object_name="Shop", changes={"name": ["a", "b"]}
    )
    AuditEntry.objects.filter(pk=row.pk).update(ip="192.0.2.1")
    body = alice_client.get("/api/audit-log/").json()
    assert body["count"] == 1
    assert body["results"][0] == {
        "id": row.pk,
        "time": row.time.isoformat().replace("+00:00", "Z"),
        "actor": {"type": "user", "id": alice.pk, "name": "alice"},
        "team": alice.personal_team.slug,
        "action": "update",
        "object_type": "server",
        "object_id": "7",
        "object_name": "Shop",
        "changes": {"name": ["a", "b"]},
        "ip": "192.0.2.1",
    }


def test_owners_and_admins_read_their_teams_rows_only(alice, charlie, ops):
    mine, theirs, shared = add_row(alice.personal_team), add_row(charlie.personal_team), add_row(ops)
    Membership.objects.filter(team=ops, user=charlie).update(role=Role.ADMIN)
    assert {r["id"] for r in client_for(alice).get("/api/audit-log/").json()["results"]} == {mine.pk, shared.pk}
    assert {r["id"] for r in client_for(charlie).get("/api/audit-log/").json()["results"]} == {theirs.pk, shared.pk}


def test_a_member_or_viewer_reads_no_rows_of_that_team(alice, charlie, charlie_client, ops):
    add_row(ops)
    Membership.objects.filter(user=charlie, team=charlie.personal_team).delete()
    r = charlie_client.get("/api/audit-log/")
    assert r.status_code == 200 and r.json()["results"] == [] and r.json()["count"] == 0
    Membership.objects.filter(team=ops, user=charlie).update(role=Role.VIEWER)
    assert charlie_client.get("/api/audit-log/").json()["results"] == []


def test_staff_read_every_row(alice, charlie, bob_client):
    add_row(alice.personal_team)
    add_row(charlie.personal_team)
    assert bob_client.get("/api/audit-log/").json()["count"] == 2
    assert bob_client.get(f"/api/audit-log/?team={charlie.personal_team.slug}").json()["count"] == 1


def test_the_team_filter_is_403_for_a_member_and_400_for_a_stranger(alice, charlie, charlie_client, ops):
    r = charlie_client.get("/api/audit-log/?team=ops")
    assert r.status_code == 403
    r = charlie_client.get(f"/api/audit-log/?team={alice.personal_team.slug}")
    assert r.status_code == 400 and "team" in r.json()
    assert charlie_client.get("/api/audit-log/?team=nope").status_code == 400


def test_the_team_filter_keeps_that_teams_rows(alice, alice_client, ops):
    add_row(alice.personal_team)
    shared = add_row(ops)
    assert [r["id"] for r in alice_client.get("/api/audit-log/?team=ops").json()["results"]] == [shared.pk]


def test_the_actor_action_type_and_time_filters(alice, alice_client, charlie):
    team = alice.personal_team
    old = add_row(team, "create", actor=alice, when=timezone.now() - timedelta(days=3))
    by_charlie = add_row(team, "delete", actor=charlie)
    by_key = add_row(team, "pause", actor_ref="key:pgk_abcd1234", object_type="notificationconfig")

    def ids(query: str) -> list[int]:
        r = alice_client.get(f"/api/audit-log/?{query}")
        assert r.status_code == 200, r.content
        return [row["id"] for row in r.json()["results"]]

    assert ids(f"actor={alice.pk}") == [old.pk]
    assert ids("actor=key:pgk_abcd1234") == [by_key.pk]
    assert ids("action=delete") == [by_charlie.pk]
    assert ids("object_type=notificationconfig") == [by_key.pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert set(ids(f"since={since.replace('+', '%2B')}")) == {by_charlie.pk, by_key.pk}
    until = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(f"until={until.replace('+', '%2B')}") == [old.pk]
    assert ids("") == [by_key.pk, by_charlie.pk, old.pk]  # newest first


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("action=explode", "action"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("actor=alice", "actor"),
        ("actor=key:", "actor"),
    ],
)
def test_bad_filters_are_400s_naming_them(alice_client, query, field):
    r = alice_client.get(f"/api/audit-log/?{query}")
    assert r.status_code == 400 and field in r.json(), r.content


def test_the_audit_log_is_read_only_and_needs_a_login(alice_client, anon_client):
    assert anon_client.get("/api/audit-log/").status_code == 401
    assert alice_client.post("/api/audit-log/", {}).status_code == 405


def test_the_list_costs_the_same_queries_for_many_rows(alice, alice_client, django_assert_num_queries):
    for _ in range(3):
        add_row(alice.personal_team, actor=alice)
    alice_client.get("/api/audit-log/")  # warm the JWT user lookup path
    with django_assert_num_queries(3):  # user, count, page (teams joined)
        assert alice_client.get("/api/audit-log/").json()["count"] == 3


# --- retention -----------------------------------------------------------------------------


def test_rows_older_than_the_retention_are_pruned(alice):
    now = timezone.now()
    old = add_row(alice.personal_team, when=now - timedelta(days=31))
    recent = add_row(alice.personal_team, when=now - timedelta(days=29))
    assert prune_audit(0, now=now) == 0 and AuditEntry.objects.count() == 2
    assert prune_audit(30, now=now) == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AuditEntry.objects.filter(pk=old.pk).exists()


def test_prune_results_prints_how_many_audit_rows_it_deleted(alice):
    add_row(alice.personal_team, when=timezone.now() - timedelta(days=400))
    add_row(alice.personal_team)
    out = StringIO()
    call_command("prune_results", stdout=out)
    assert "Deleted 1 audit row(s) older than 365 day(s)." in out.getvalue()
    assert AuditEntry.objects.count() == 1


def test_prune_results_keeps_audit_rows_for_ever_at_zero(alice):
    add_row(alice.personal_team, when=timezone.now() - timedelta(days=4000))
    out = StringIO()
    with override_settings(AUDIT_RETENTION_DAYS=0, RAW_RESULT_RETENTION_DAYS=0):
        call_command("prune_results", stdout=out)
    assert "AUDIT_RETENTION_DAYS is 0" in out.getvalue() and AuditEntry.objects.count() == 1


def test_the_daily_housekeeping_prunes_audit_rows(alice):
    add_row(alice.personal_team, when=timezone.now() - timedelta(days=11))
    with override_settings(AUDIT_RETENTION_DAYS=10, RAW_RESULT_RETENTION_DAYS=0):
        prune_step()
    assert not AuditEntry.objects.exists()


# --- the admin -----------------------------------------------------------------------------


def test_the_admin_lists_audit_rows_and_changes_none(admin_client, alice):
    row = add_row(alice.personal_team, actor=alice, object_name="Shop")
    r = admin_client.get("/admin/authentication/auditentry/?q=Shop")
    assert r.status_code == 200 and b"Shop" in r.content
    assert admin_client.get(f"/admin/authentication/auditentry/{row.pk}/change/").status_code == 200
    assert admin_client.get("/admin/authentication/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/authentication/auditentry/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=row.pk).exists()


def server_form(admin_client, server, **changes):
    """The server's admin change form as the browser would post it, with ``changes``."""
    page = admin_client.get(f"/admin/monitoring/server/{server.pk}/change/")
    assert page.status_code == 200
    form = {k: v for k, v in page.context["adminform"].form.initial.items() if v is not None}
    form.update(
        tags="",
        request_headers="{}",
        assertions="[]",
        cert_expiry_alert_days=json.dumps(server.cert_expiry_alert_days),
        owner=server.owner_id,
        team=server.team_id,
        **{f"{p}-TOTAL_FORMS": "0" for p in ("NotificationConfig_servers", "status_changes", "location_states")},
        **{f"{p}-INITIAL_FORMS": "0" for p in ("NotificationConfig_servers", "status_changes", "location_states")},
    )
    form.update(changes)
    return form


def test_admin_changes_are_recorded_with_the_admin_as_actor(admin_client, alice):
    root = User.objects.get(username="root")
    server = make_server(alice, name="Shop")
    r = admin_client.post(
        f"/admin/monitoring/server/{server.pk}/change/", server_form(admin_client, server, name="Shop 2")
    )
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    row = only_row(action="update")
    assert (row.actor_id, row.actor_name, row.team_id) == (root.pk, "root", server.team_id)
    assert row.changes == {"name": ["Shop", "Shop 2"]}


def test_a_notification_config_attached_in_the_server_admin_is_recorded_as_its_update(admin_client, alice):
    server = make_server(alice, name="Shop")
    config = NotificationConfig.objects.create(team=server.team, notification_type="email", recipient="ops@example.com")
    inline = {
        "NotificationConfig_servers-TOTAL_FORMS": "1",
        "NotificationConfig_servers-0-server": str(server.pk),
        "NotificationConfig_servers-0-notificationconfig": str(config.pk),
    }
    r = admin_client.post(f"/admin/monitoring/server/{server.pk}/change/", server_form(admin_client, server, **inline))
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert list(config.servers.all()) == [server]
    row = only_row(action="update")
    assert (row.object_type, row.object_id, row.team_id) == ("notificationconfig", str(config.pk), server.team_id)
    assert row.changes == {"servers": [[], [server.pk]]}


def team_form(team, members):
    form = {"name": team.name, "slug": team.slug, "memberships-TOTAL_FORMS": str(len(members))}
    form["memberships-INITIAL_FORMS"] = str(sum(1 for m in members if m.get("id")))
    for n, member in enumerate(members):
        form.update({f"memberships-{n}-{k}": v for k, v in member.items()})
        form[f"memberships-{n}-team"] = str(team.pk)
    return form


def test_members_added_changed_and_removed_in_the_team_admin_are_member_rows(admin_client, alice, charlie, ops):
    url = f"/admin/authentication/team/{ops.pk}/change/"
    mine = Membership.objects.get(team=ops, user=alice)
    theirs = Membership.objects.get(team=ops, user=charlie)
    dave = User.objects.create_user("dave", "dave@example.com", "dave-password-1")
    members = [
        {"id": mine.pk, "user": alice.pk, "role": "owner"},
        {"id": theirs.pk, "user": charlie.pk, "role": "admin"},
        {"user": dave.pk, "role": "viewer"},
    ]
    r = admin_client.post(url, team_form(ops, members))
    assert r.status_code == 302, r.context["inline_admin_formsets"][0].formset.errors if r.context else r
    members = [members[0], {"id": theirs.pk, "user": charlie.pk, "role": "admin", "DELETE": "on"}]
    assert admin_client.post(url, team_form(ops, members)).status_code == 302
    found = [(r.action, r.object_type, r.object_name, r.changes, r.team_id) for r in rows()]
    assert found == [
        ("member_add", "membership", "dave", {"role": [None, "viewer"]}, ops.pk),
        ("member_role", "membership", "charlie", {"role": ["member", "admin"]}, ops.pk),
        ("member_remove", "membership", "charlie", {"role": ["admin", None]}, ops.pk),
    ]


def test_admin_actions_and_deletes_are_recorded(admin_client, alice):
    server = make_server(alice, name="Shop")
    for action in ("pause", "resume"):
        r = admin_client.post("/admin/monitoring/server/", {"action": action, "_selected_action": [server.pk]})
        assert r.status_code == 302
    chosen = {"action": "delete_selected", "_selected_action": [server.pk], "post": "yes"}
    assert admin_client.post("/admin/monitoring/server/", chosen).status_code == 302
    assert [(r.action, r.object_id, r.actor_name) for r in rows()] == [
        ("pause", str(server.pk), "root"),
        ("resume", str(server.pk), "root"),
        ("delete", str(server.pk), "root"),
    ]


def test_an_admin_create_is_recorded(admin_client, alice):
    r = admin_client.post(
        "/admin/monitoring/notificationconfig/add/",
        {
            "team": alice.personal_team.pk,
            "servers": [make_server(alice).pk],
            "events": '["down", "recovery"]',
            "notification_type": "email",
            "recipient": "ops@example.com",
            "enabled": "on",
            "cooldown_minutes": "5",
            "secret": "a" * 32,
        },
    )
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    row = only_row(action="create")
    assert row.object_type == "notificationconfig" and row.changes["secret"] == [None, MASK]
    assert row.changes["servers"] == [None, list(NotificationConfig.objects.get().servers.values_list("pk", flat=True))]


# --- the web page --------------------------------------------------------------------------


def test_the_web_page_lists_the_rows_of_the_teams_the_user_admins(client, alice, charlie, ops):
    add_row(alice.personal_team, "pause", actor=alice, object_name="Mine", changes={"name": ["a", "b"]})
    add_row(charlie.personal_team, "pause", actor=charlie, object_name="Theirs")
    add_row(ops, "delete", actor=charlie, object_name="Shared")
    client.force_login(alice)
    r = client.get("/audit/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Mine" in html and "Shared" in html and "Theirs" not in html
    assert html.index("Shared") < html.index("Mine")  # newest first
    assert 'href="/audit/"' in html  # in the navigation
    assert "Shared" not in client.get("/audit/?team=" + alice.personal_team.slug).content.decode()
    filtered = client.get("/audit/?action=delete").content.decode()
    assert "Shared" in filtered and "Mine" not in filtered


def test_the_web_page_shows_a_refused_team_filter_instead_of_rows(client, charlie, ops):
    add_row(ops, object_name="Shared")
    client.force_login(charlie)
    r = client.get("/audit/?team=ops")
    assert r.status_code == 200
    assert "Shared" not in r.content.decode() and "admins and owners" in r.content.decode()


def test_a_user_who_admins_no_team_gets_no_link_and_an_explanation(client, charlie, ops):
    Membership.objects.filter(user=charlie, team=charlie.personal_team).delete()
    add_row(ops, object_name="Shared")
    client.force_login(charlie)
    html = client.get("/audit/").content.decode()
    assert "you admin no team" in html and "Shared" not in html
    assert 'href="/audit/"' not in client.get("/").content.decode()


def test_the_web_page_starts_filtered_by_the_team_chosen_in_the_header(client, alice, ops):
    add_row(alice.personal_team, object_name="Mine")
    add_row(ops, object_name="Shared")
    client.force_login(alice)
    assert client.post("/switch-team/", {"team": "ops", "next": "/audit/"}).status_code == 302
    html = client.get("/audit/").content.decode()
    assert "Shared" in html and "Mine" not in html
    everything = client.get("/audit/?team=").content.decode()  # "all my teams"
    assert "Shared" in everything and "Mine" in everything


def test_the_web_page_pages(client, alice):
    for n in range(51):
        add_row(alice.personal_team, object_name=f"row-{n}")
    client.force_login(alice)
    html = client.get("/audit/").content.decode()
    assert "Page 1 of 2" in html and "row-50" in html and "row-0<" not in html
    assert "row-0<" in client.get("/audit/?page=2").content.decode()
