"""Configuration as code (SPEC §16): export, import (all or nothing, upserts, dry runs), the commands."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import threading
from pathlib import Path
from unittest import mock

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import override_settings

from api.configuration import export_config, server_fields
from authentication.models import Membership, Role, Team
from monitoring.models import MaintenanceWindow, NotificationConfig, Server, StatusPage
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(alice):
    """Four servers of four kinds (one a push monitor), two notification configs, a recurring
    maintenance window naming a server and a status page naming two servers."""
    shop = make_server(alice, name="Shop", protocol="https", host="shop.example.com", tags=["prod"], keyword="Welcome")
    db = make_server(alice, name="DB", protocol="tcp", host="db.example.com", port=5432, check_interval=30)
    make_server(alice, name="Paused", protocol="http", host="old.example.com", is_active=False, verify_tls=False)
    NotificationConfig.objects.create_for(shop, notification_type="webhook", recipient="https://hooks.example.com/a")
    NotificationConfig.objects.create_for(shop, notification_type="email", recipient="ops@example.com")
    make_server(alice, name="Nightly backup", protocol="push", host="", check_interval=86400, grace_seconds=3600)
    page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True, tags=["prod"])
    page.servers.add(shop, db)
    window = MaintenanceWindow.objects.create(
        owner=alice, name="Sunday patching", recurrence="weekly", weekdays=[6], start_time=datetime.time(2, 0),
        duration_minutes=90, timezone="Europe/Berlin", tags=["prod"],
    )  # fmt: skip
    window.servers.add(db)
    return alice


def test_export_lists_writable_non_secret_fields_and_names_servers(setup, alice_client):
    doc = alice_client.get("/api/config/export/").json()
    assert set(doc) == {"version", "servers", "notification_configs", "maintenance_windows", "status_pages"}
    assert doc["version"] == 1
    assert [s["name"] for s in doc["servers"]] == ["DB", "Nightly backup", "Paused", "Shop"]
    shop = doc["servers"][3]
    for absent in ("id", "status", "owner", "url", "badge_key", "uptime_percentage", "created_at"):
        assert absent not in shop
    assert shop["keyword"] == "Welcome" and shop["tags"] == ["prod"]
    # Configs belong to the team and name their servers (SPEC §18).
    assert "notification_configs" not in shop
    configs = doc["notification_configs"]
    assert [(c["notification_type"], c["servers"]) for c in configs] == [("email", ["Shop"]), ("webhook", ["Shop"])]
    assert all("secret" not in c and "id" not in c and "server" not in c and "team" not in c for c in configs)
    assert configs[0]["events"] == ["down", "recovery", "degraded", "certificate", "maintenance", "location", "test"]
    assert configs[0]["is_default"] is False
    assert doc["status_pages"] == [
        {"slug": "acme", "title": "Acme", "description": "", "tags": ["prod"], "is_public": True,
         "show_response_times": False, "accent_color": "", "footer_text": "", "domain": None,
         "publish_outages": False, "servers": ["DB", "Shop"]}
    ]  # fmt: skip
    assert doc["maintenance_windows"] == [
        {"name": "Sunday patching", "tags": ["prod"], "enabled": True, "starts_at": None, "ends_at": None,
         "recurrence": "weekly", "weekdays": [6], "start_time": "02:00", "duration_minutes": 90,
         "timezone": "Europe/Berlin", "servers": ["DB"]}
    ]  # fmt: skip
    push = doc["servers"][1]
    assert push["protocol"] == "push" and push["grace_seconds"] == 3600
    # The push URL carries the secret token: neither is exported (a new account gets its own).
    assert "push_token" not in push and "push_url" not in push


def test_exported_server_fields_follow_the_serializer(alice):
    fields = server_fields(alice)
    assert {"name", "protocol", "host", "port", "tags", "verify_tls", "is_active"} <= set(fields)
    assert not {"id", "status", "badge_key", "url"} & set(fields)


def test_export_as_yaml(setup, alice_client):
    r = alice_client.get("/api/config/export/?format=yaml")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(r.content)["servers"][0]["name"] == "DB"
    assert alice_client.get("/api/config/export/?format=xml").status_code == 400


def test_round_trip_into_an_empty_account_gives_the_same_document(setup, alice_client, charlie_client):
    exported = alice_client.get("/api/config/export/?format=yaml").content
    setup.delete()  # slugs are unique across accounts: as if imported into another installation
    r = charlie_client.post("/api/config/import/", exported, content_type="application/yaml")
    assert r.status_code == 200, r.content
    # 4 servers, 2 configs, 1 window, 1 page
    assert r.json() == {"created": 8, "updated": 0, "unchanged": 0}
    assert charlie_client.get("/api/config/export/?format=yaml").content == exported
    assert Server.objects.get(owner__username="charlie", name="Paused").status == "paused"
    window = MaintenanceWindow.objects.get(owner__username="charlie")
    assert [s.name for s in window.servers.all()] == ["DB"] and window.servers.get().owner.username == "charlie"
    push = Server.objects.get(owner__username="charlie", name="Nightly backup")
    assert push.push_token and push.push_token != Server.objects.filter(name="Nightly backup").count() * ""


def test_importing_the_same_document_again_changes_nothing(setup, alice_client):
    doc = alice_client.get("/api/config/export/").json()
    before = {s.pk: s.updated_at for s in Server.objects.all()}
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 8}
    assert {s.pk: s.updated_at for s in Server.objects.all()} == before


def test_import_upserts_by_name_and_recipient(setup, alice_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["servers"][3]["check_interval"] = 300
    doc["notification_configs"][0]["cooldown_minutes"] = 5
    doc["servers"].append({"name": "New", "protocol": "tcp", "host": "new.example.com", "port": 22})
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.json() == {"created": 1, "updated": 2, "unchanged": 6}
    assert Server.objects.get(name="Shop").check_interval == 300
    assert NotificationConfig.objects.get(notification_type="email").cooldown_minutes == 5
    assert Server.objects.filter(owner=setup).count() == 5


def test_a_dry_run_counts_and_writes_nothing(setup, alice_client, charlie_client, charlie):
    doc = alice_client.get("/api/config/export/").json()
    doc["status_pages"][0]["slug"] = "charlies"
    r = charlie_client.post("/api/config/import/?dry_run=true", doc, format="json")
    assert r.status_code == 200 and r.json() == {"created": 8, "updated": 0, "unchanged": 0}
    assert not Server.objects.filter(owner=charlie).exists() and not StatusPage.objects.filter(owner=charlie).exists()


def test_one_bad_item_answers_every_items_errors_and_writes_nothing(setup, alice_client, charlie_client, charlie):
    doc = alice_client.get("/api/config/export/").json()
    doc["status_pages"] = []  # the slug is alice's; here we test the servers
    doc["servers"][0]["port"] = 70000
    doc["notification_configs"][1]["recipient"] = "not a url"
    doc["servers"].append({"name": "No host"})
    doc["maintenance_windows"] += [
        {"name": "Ghost hour", "servers": ["Ghost"], "starts_at": "2026-12-24T10:00:00Z"},
        {"name": "Half a window", "servers": ["DB"], "starts_at": "2026-12-24T10:00:00Z"},
    ]
    r = charlie_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400
    # Only the bad items, each by its position (from 0) and its name (SPEC §23).
    errors = r.json()["servers"]
    assert [(e["index"], e["name"]) for e in errors] == [(0, "DB"), (4, "No host")]
    assert list(errors[0]["errors"]) == ["port"]
    configs = r.json()["notification_configs"]
    assert [(c["index"], c["name"]) for c in configs] == [(1, "not a url")] and "recipient" in configs[0]["errors"]
    assert "host" in errors[1]["errors"]
    window_errors = r.json()["maintenance_windows"]
    assert [(e["index"], e["name"]) for e in window_errors] == [(1, "Ghost hour"), (2, "Half a window")]
    assert "Ghost" in window_errors[0]["errors"]["servers"][0]
    assert list(window_errors[1]["errors"]) == ["ends_at"]  # DB is named by the (invalid) first server item
    assert not Server.objects.filter(owner=charlie).exists()
    assert not MaintenanceWindow.objects.filter(owner=charlie).exists()


def test_pages_name_known_servers_and_keep_slugs_of_other_accounts(setup, alice_client, charlie_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["status_pages"][0]["servers"].append("Ghost")
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and "Ghost" in r.json()["status_pages"][0]["errors"]["servers"][0]
    doc["status_pages"][0]["servers"].remove("Ghost")
    r = charlie_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and r.json()["status_pages"][0]["name"] == "acme"
    assert "slug" in r.json()["status_pages"][0]["errors"]
    assert StatusPage.objects.get(slug="acme").owner == setup


@pytest.mark.parametrize(
    "doc",
    [[], {"version": 2, "servers": []}, {"version": 1, "servers": {}}, {"version": 1, "extra": 1},
     {"version": 1, "maintenance_windows": "x"}, {"version": 1, "maintenance_windows": [{"name": "w"}]},
     {"version": 1, "servers": ["x"]}],
)  # fmt: skip
def test_a_malformed_document_is_400(alice_client, doc):
    assert alice_client.post("/api/config/import/", doc, format="json").status_code == 400


def test_bad_yaml_is_400(alice_client):
    r = alice_client.post("/api/config/import/", b"servers: [unclosed", content_type="application/yaml")
    assert r.status_code == 400


def test_an_oversized_yaml_document_is_400(alice_client):
    body = b"version: 1\nservers: []\n" + b"# padding\n" * 600_000
    r = alice_client.post("/api/config/import/", body, content_type="application/yaml")
    assert r.status_code == 400 and "larger" in r.json()["detail"]


def test_an_empty_maintenance_window_list_is_accepted(alice_client):
    r = alice_client.post("/api/config/import/", {"version": 1, "maintenance_windows": []}, format="json")
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 0}


def test_duplicate_names_in_the_account_are_reported(alice, alice_client):
    make_server(alice, name="Twin")
    make_server(alice, name="Twin")
    doc = {"version": 1, "servers": [{"name": "Twin", "host": "x.example.com"}]}
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and "name" in r.json()["servers"][0]["errors"]


def test_anonymous_users_cannot_export_or_import(anon_client):
    assert anon_client.get("/api/config/export/").status_code == 401
    assert anon_client.post("/api/config/import/", {}, format="json").status_code == 401


def test_the_commands_round_trip(setup, charlie, tmp_path):
    out = io.StringIO()
    call_command("export_config", "--user", "alice", "--format", "yaml", stdout=out)
    path = tmp_path / "config.yaml"
    path.write_text(out.getvalue())
    setup.delete()  # page slugs are unique across accounts
    dry = io.StringIO()
    call_command("import_config", str(path), "--user", "charlie", "--dry-run", stdout=dry)
    assert "would have created 8" in dry.getvalue() and not Server.objects.filter(owner=charlie).exists()
    done = io.StringIO()
    call_command("import_config", str(path), "--user", "charlie", stdout=done)
    assert "created 8, updated 0, unchanged 0" in done.getvalue()
    again = io.StringIO()
    call_command("export_config", "--user", "charlie", stdout=again)
    assert json.loads(again.getvalue())["servers"] == yaml.safe_load(out.getvalue())["servers"]


def test_the_import_command_reports_errors_and_unknown_users(alice, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": 1, "servers": [{"name": "x"}]}))
    with pytest.raises(CommandError, match="host"):
        call_command("import_config", str(path), "--user", "alice")
    with pytest.raises(CommandError, match="No user"):
        call_command("import_config", str(path), "--user", "nobody")


def test_the_commands_take_a_team_of_the_users(setup, charlie, tmp_path):
    ops = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(team=ops, user=charlie, role=Role.MEMBER)
    out = io.StringIO()
    call_command("export_config", "--user", "alice", stdout=out)
    path = tmp_path / "config.json"
    doc = json.loads(out.getvalue())
    doc["status_pages"] = []  # page slugs are unique across teams
    path.write_text(json.dumps(doc))
    call_command("import_config", str(path), "--user", "charlie", "--team", "ops", stdout=io.StringIO())
    assert Server.objects.filter(team=ops).count() == len(doc["servers"]) > 0
    assert not Server.objects.filter(team=charlie.personal_team).exists()
    again = io.StringIO()
    call_command("export_config", "--user", "charlie", "--team", "ops", stdout=again)
    assert json.loads(again.getvalue())["servers"] == doc["servers"]
    with pytest.raises(CommandError, match="no team with the slug 'alice'"):
        call_command("export_config", "--user", "charlie", "--team", "alice")


def test_windows_upsert_by_name_and_name_their_servers(setup, alice_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["maintenance_windows"][0]["duration_minutes"] = 120
    doc["maintenance_windows"][0]["servers"] = ["DB", "Shop"]
    doc["maintenance_windows"].append(
        {"name": "Migration", "servers": ["Nightly backup"], "starts_at": "2026-12-24T10:00:00Z",
         "ends_at": "2026-12-24T12:00:00Z"}
    )  # fmt: skip
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 200 and r.json() == {"created": 1, "updated": 1, "unchanged": 7}
    sunday = MaintenanceWindow.objects.get(owner=setup, name="Sunday patching")
    assert sunday.duration_minutes == 120 and sorted(s.name for s in sunday.servers.all()) == ["DB", "Shop"]
    migration = MaintenanceWindow.objects.get(owner=setup, name="Migration")
    assert migration.starts_at == datetime.datetime(2026, 12, 24, 10, tzinfo=datetime.UTC)
    assert [s.name for s in migration.servers.all()] == ["Nightly backup"]
    again = alice_client.post("/api/config/import/", alice_client.get("/api/config/export/").json(), format="json")
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 9}


def test_a_window_named_twice_in_the_document_is_400(setup, alice_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["maintenance_windows"].append(dict(doc["maintenance_windows"][0]))
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and r.json()["maintenance_windows"][0]["index"] == 1
    assert "twice" in r.json()["maintenance_windows"][0]["errors"]["name"][0]
    assert MaintenanceWindow.objects.count() == 1


# --- A document is bounded by its nodes after alias expansion (issue 14, D.17) -----------------

# The probe's bomb: 599 bytes that expand to 9⁹ (387 million) strings.
ALIAS_BOMB = (
    "version: 1\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{chr(c)}: &{chr(c)} [{','.join(['*' + chr(c - 1)] * 9)}]\n" for c in range(ord("b"), ord("j")))
    + "servers: *i\n"
)


def test_a_yaml_alias_bomb_is_stopped_by_the_node_counter(alice_client):
    assert len(ALIAS_BOMB) < 700
    r = alice_client.post("/api/config/import/?dry_run=true", ALIAS_BOMB, content_type="application/yaml")
    assert r.status_code == 400
    assert "more than 100,000 nodes once its aliases are expanded" in r.json()["detail"]
    assert "line 7" in r.json()["detail"]  # the first node past the bound: f's list, 9⁵ nodes


def test_a_merge_key_bomb_is_stopped_by_the_node_counter(alice_client):
    # `<<` copies a mapping's pairs into another: doubling per level, whatever dicts later drop.
    levels = ["a0: &a0 {k0: v, k1: v}"] + [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, 40)]
    body = "version: 1\n" + "\n".join(levels) + "\n"
    r = alice_client.post("/api/config/import/", body, content_type="application/yaml")
    assert r.status_code == 400 and "nodes once its aliases are expanded" in r.json()["detail"]


@override_settings(CONFIG_IMPORT_MAX_NODES=50)
def test_the_bound_counts_every_alias_reference_as_its_whole_node(alice_client):
    item = "- {name: Shop, protocol: tcp, host: shop.example.com, port: 22}"  # 9 nodes
    small = f"version: 1\nservers:\n{item}\n"
    r = alice_client.post("/api/config/import/?dry_run=true", small, content_type="application/yaml")
    assert r.status_code == 200, r.content
    # Six references to the same 9-node item: 57 nodes once expanded, though its text has 9.
    aliased = "version: 1\nx: &s {name: Shop, protocol: tcp, host: shop.example.com, port: 22}\n"
    aliased += "servers: [*s, *s, *s, *s, *s, *s]\n"
    r = alice_client.post("/api/config/import/?dry_run=true", aliased, content_type="application/yaml")
    assert r.status_code == 400 and "more than 50 nodes" in r.json()["detail"]


def test_a_yaml_node_that_contains_itself_is_400(alice_client):
    r = alice_client.post("/api/config/import/", "version: 1\nservers: &s [*s]\n", content_type="application/yaml")
    assert r.status_code == 400 and "contains it" in r.json()["detail"]


def test_the_import_command_is_bounded_the_same_way(alice, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(CommandError, match="nodes once its aliases are expanded"):
        call_command("import_config", str(path), "--user", "alice", "--dry-run")


@pytest.mark.django_db(transaction=True)
def test_the_import_parses_off_the_event_loop(alice):
    """Under ASGI the view is synchronous: Django runs it, parser included, in a thread of its
    own request (its ThreadSensitiveContext), never on the event loop, so other requests go on."""
    from django.test import AsyncClient

    from api import parsers

    seen = []
    real = parsers.load_yaml

    def spy(text):
        try:
            asyncio.get_running_loop()
            seen.append("on the event loop")
        except RuntimeError:
            seen.append(threading.current_thread() is threading.main_thread() and "main thread" or "worker thread")
        return real(text)

    client = AsyncClient()
    client.force_login(alice)

    async def post():
        return await client.post("/api/config/import/?dry_run=true", "version: 1\n", content_type="application/yaml")

    with mock.patch.object(parsers, "load_yaml", spy):
        r = asyncio.run(post())
    assert r.status_code == 200 and seen == ["worker thread"]


# --- Errors that say where (issue 14, C.13) ------------------------------------------------


def test_a_yaml_error_gives_its_line_on_one_line(alice_client):
    body = "version: 1\nservers:\n- name: Shop\n  host: [unclosed\n"
    r = alice_client.post("/api/config/import/", body, content_type="application/yaml")
    detail = r.json()["detail"]
    assert r.status_code == 400 and "line 5, column 1" in detail and "\n" not in detail


@pytest.mark.parametrize("version", [True, 1.0, "1", None])
def test_version_must_be_the_whole_number_1(alice_client, version):
    r = alice_client.post("/api/config/import/", {"version": version, "servers": []}, format="json")
    assert r.status_code == 400 and r.json() == {"version": ["Expected the whole number 1."]}


def test_the_readmes_example_imports(alice_client):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Export and import")[1]
    example = section.split("```yaml\n")[1].split("```")[0]
    assert example.startswith("version: 1 ")
    r = alice_client.post("/api/config/import/", example, content_type="application/yaml")
    assert r.status_code == 200, r.content
    assert r.json() == {"created": 6, "updated": 0, "unchanged": 0}


# --- Names are compared trimmed; an export always imports back (issue 14, D.29) ------------


def test_names_that_differ_only_by_surrounding_spaces_are_twins_in_a_document(alice, alice_client):
    servers = [
        {"name": name, "protocol": "tcp", "host": "db.example.com", "port": 5432} for name in ("dup", "dup ", " dup")
    ]
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": servers}, format="json")
    assert r.status_code == 400
    assert [(e["index"], e["name"]) for e in r.json()["servers"]] == [(1, "dup"), (2, "dup")]
    assert all("twice" in e["errors"]["name"][0] for e in r.json()["servers"])
    assert not Server.objects.exists()


def test_the_api_stores_names_trimmed(alice, alice_client):
    server = {"protocol": "tcp", "host": "db.example.com", "port": 5432}
    created = alice_client.post("/api/servers/", {**server, "name": " dup "}, format="json").json()
    assert created["name"] == "dup"
    alice_client.patch(f"/api/servers/{created['id']}/", {"name": "  db\t"}, format="json")
    window = {"starts_at": "2026-12-24T10:00:00Z", "ends_at": "2026-12-24T12:00:00Z", "tags": ["prod"]}
    alice_client.post("/api/maintenance-windows/", {**window, "name": " w "}, format="json")
    alice_client.post("/api/status-pages/", {"slug": "acme", "title": " Acme "}, format="json")
    assert list(Server.objects.values_list("name", flat=True)) == ["db"]
    assert MaintenanceWindow.objects.get().name == "w" and StatusPage.objects.get().title == "Acme"


def test_a_stored_name_with_spaces_is_found_by_its_trimmed_name(alice, alice_client):
    make_server(alice, name=" db ", protocol="tcp", host="db.example.com", port=5432)  # from before trimming
    doc = {"version": 1, "servers": [{"name": "db", "protocol": "tcp", "host": "db.example.com", "port": 5433}]}
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.json() == {"created": 0, "updated": 1, "unchanged": 0}
    assert list(Server.objects.values_list("name", "port")) == [("db", 5433)]


def test_an_accounts_own_export_imports_back(setup, alice_client):
    """Twins (one name on several servers, or one recipient on several configs of a server),
    which the API allows, are matched in the order the export lists them."""
    server = {"protocol": "tcp", "host": "db.example.com", "port": 5432}
    for name in ("dup", "dup ", " dup", "  padded  "):
        assert alice_client.post("/api/servers/", {**server, "name": name}, format="json").status_code == 201
    twins = Server.objects.filter(name="dup").order_by("id")
    alice_client.patch(f"/api/servers/{twins[1].pk}/", {"port": 5433}, format="json")
    config = {"server": twins[0].pk, "notification_type": "email"}
    for recipient in ("ops@example.com", " ops@example.com ", "b@example.com"):
        alice_client.post("/api/notification-configs/", {**config, "recipient": recipient}, format="json")
    page = StatusPage.objects.get()
    page.servers.add(*twins)
    exported = alice_client.get("/api/config/export/?format=yaml").content
    r = alice_client.post("/api/config/import/", exported, content_type="application/yaml")
    assert r.status_code == 200, r.content
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 15}
    assert alice_client.get("/api/config/export/?format=yaml").content == exported


def test_a_document_gives_all_of_an_accounts_twins_or_none(alice, alice_client):
    for port in (1, 2):
        make_server(alice, name="Twin", protocol="tcp", host="db.example.com", port=port)
    twin = {"name": "Twin", "protocol": "tcp", "host": "db.example.com"}
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": [{**twin, "port": 3}]}, format="json")
    assert r.status_code == 400 and "You have 2 servers named 'Twin' and the document 1" in str(r.json())
    doc = {"version": 1, "servers": [{**twin, "port": 3}, {**twin, "port": 4}]}
    assert alice_client.post("/api/config/import/", doc, format="json").json()["updated"] == 2
    assert list(Server.objects.order_by("id").values_list("port", flat=True)) == [3, 4]


# --- Export at size (issue 14, C.15) ----------------------------------------------------------


def test_export_makes_the_same_nine_queries_for_any_number_of_servers(setup, django_assert_num_queries):
    team = setup.personal_team
    # Servers, their dependencies and locations, configs and their servers (configs are the
    # team's), pages, windows and theirs.
    with django_assert_num_queries(9):
        export_config(setup, team)
    page, window = StatusPage.objects.get(), MaintenanceWindow.objects.get()
    for i in range(20):
        server = make_server(setup, name=f"web-{i}", tags=["prod"])
        NotificationConfig.objects.create_for(server, notification_type="email", recipient=f"{i}@example.com")
        page.servers.add(server)
        window.servers.add(server)
    with django_assert_num_queries(9):
        doc = export_config(setup, team)
    assert len(doc["servers"]) == 24 and len(doc["status_pages"][0]["servers"]) == 22


# --- Quotas (issue 14, D.30) ----------------------------------------------------------------


@override_settings(MAX_SERVERS_PER_ACCOUNT=2, MAX_NOTIFICATION_CONFIGS_PER_ACCOUNT=1)
def test_the_api_refuses_a_server_or_config_past_the_accounts_quota(alice, alice_client, bob, bob_client):
    server = {"protocol": "tcp", "host": "db.example.com", "port": 5432}
    assert alice_client.post("/api/servers/", {**server, "name": "a"}, format="json").status_code == 201
    first = alice_client.post("/api/servers/", {**server, "name": "b"}, format="json").json()
    r = alice_client.post("/api/servers/", {**server, "name": "c"}, format="json")
    assert r.status_code == 403 and "at most 2 servers (MAX_SERVERS_PER_ACCOUNT); you have 2" in r.json()["detail"]
    config = {"server": first["id"], "notification_type": "email", "recipient": "ops@example.com"}
    assert alice_client.post("/api/notification-configs/", config, format="json").status_code == 201
    r = alice_client.post("/api/notification-configs/", {**config, "recipient": "b@example.com"}, format="json")
    assert r.status_code == 403 and "MAX_NOTIFICATION_CONFIGS_PER_ACCOUNT" in r.json()["detail"]
    for name in "abc":  # staff run the install: never limited
        assert bob_client.post("/api/servers/", {**server, "name": name}, format="json").status_code == 201


@override_settings(MAX_SERVERS_PER_ACCOUNT=2)
def test_an_import_past_the_quota_is_400_and_writes_nothing(alice, alice_client):
    make_server(alice, name="old")
    servers = [{"name": n, "protocol": "tcp", "host": "db.example.com", "port": 22} for n in ("old", "new1", "new2")]
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": servers}, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "non_field_errors": [
            "A team may have at most 2 servers (MAX_SERVERS_PER_ACCOUNT); you have 1; this would add 2."
        ]
    }
    assert Server.objects.count() == 1
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": servers[:2]}, format="json")
    assert r.json() == {"created": 1, "updated": 1, "unchanged": 0}


@override_settings(MAX_SERVERS_PER_ACCOUNT=0, MAX_IMPORT_ITEMS=2)
def test_zero_is_unlimited_and_an_import_list_is_bounded(alice, alice_client):
    servers = [{"name": f"s{i}", "protocol": "tcp", "host": "db.example.com", "port": 22} for i in range(3)]
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": servers}, format="json")
    assert r.status_code == 400 and r.json()["servers"] == ["At most 2 items (MAX_IMPORT_ITEMS)."]
    r = alice_client.post("/api/config/import/", {"version": 1, "servers": servers[:2]}, format="json")
    assert r.status_code == 200


def test_yaml_writes_what_serializers_hand_out_beside_plain_types():
    from collections import OrderedDict
    from decimal import Decimal

    from django.utils.safestring import SafeString

    from api.parsers import dump_yaml

    doc = {"name": SafeString("web"), "extra": OrderedDict(k=1), "timeout": Decimal("1.5"), "plain": [1, None]}
    assert yaml.safe_load(dump_yaml(doc)) == {"name": "web", "extra": {"k": 1}, "timeout": "1.5", "plain": [1, None]}


# --- team configs (SPEC §18) -----------------------------------------------------------------


def part_two_document(doc):
    """``doc`` as part two exported it: each server's configs nested in it, no top-level list."""
    old = {**doc, "servers": [{**s, "notification_configs": []} for s in doc["servers"]]}
    by_name = {s["name"]: s for s in old["servers"]}
    for config in old.pop("notification_configs"):
        for name in config["servers"]:
            item = {k: v for k, v in config.items() if k not in {"servers", "events", "is_default"}}
            by_name[name]["notification_configs"].append({**item, "notify_on_degraded": False})
    return old


def test_a_config_of_several_servers_round_trips_with_their_names(setup, alice_client, charlie_client):
    config = NotificationConfig.objects.get(notification_type="email")
    config.servers.add(Server.objects.get(name="DB"))
    exported = alice_client.get("/api/config/export/").json()
    assert exported["notification_configs"][0]["servers"] == ["DB", "Shop"]
    exported["status_pages"] = []
    r = charlie_client.post("/api/config/import/", exported, format="json")
    assert r.status_code == 200, r.content
    theirs = NotificationConfig.objects.get(team__slug="charlie", notification_type="email")
    assert sorted(s.name for s in theirs.servers.all()) == ["DB", "Shop"]
    assert {s.team.slug for s in theirs.servers.all()} == {"charlie"}
    again = charlie_client.get("/api/config/export/").json()
    assert again["notification_configs"] == exported["notification_configs"]


def test_an_old_document_with_configs_nested_in_servers_still_imports(setup, alice_client, charlie_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["status_pages"] = []
    old = part_two_document(doc)
    # The same destination nested under two servers becomes one team config of both.
    old["servers"][0]["notification_configs"].append(dict(old["servers"][3]["notification_configs"][0]))
    r = charlie_client.post("/api/config/import/", old, format="json")
    assert r.status_code == 200, r.content
    configs = NotificationConfig.objects.filter(team__slug="charlie").order_by("notification_type")
    assert [(c.notification_type, sorted(s.name for s in c.servers.all())) for c in configs] == [
        ("email", ["DB", "Shop"]),
        ("webhook", ["Shop"]),
    ]
    # A part-two config without notify_on_degraded hears no degraded alert.
    assert "degraded" not in configs[0].events and "down" in configs[0].events
    # Importing it again adds nothing and changes nothing.
    r = charlie_client.post("/api/config/import/", old, format="json")
    assert r.json()["created"] == 0 and NotificationConfig.objects.filter(team__slug="charlie").count() == 2


def test_an_old_documents_bad_nested_config_is_named_under_its_server(setup, alice_client, charlie_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["status_pages"] = []
    old = part_two_document(doc)
    old["servers"][3]["notification_configs"][1]["recipient"] = "not a url"
    r = charlie_client.post("/api/config/import/", old, format="json")
    assert r.status_code == 400
    [bad] = r.json()["servers"]
    assert (bad["index"], bad["name"]) == (3, "Shop")
    assert "recipient" in bad["errors"]["notification_configs"][0]["errors"]
    assert not NotificationConfig.objects.filter(team__slug="charlie").exists()


def test_a_config_naming_an_unknown_server_is_refused(setup, alice_client):
    doc = alice_client.get("/api/config/export/").json()
    doc["notification_configs"][0]["servers"] = ["Ghost"]
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400 and "Ghost" in r.json()["notification_configs"][0]["errors"]["servers"][0]


def test_a_new_server_of_an_import_gets_the_teams_default_configs(setup, alice_client):
    config = NotificationConfig.objects.get(notification_type="email")
    config.is_default = True
    config.save()
    doc = alice_client.get("/api/config/export/").json()
    doc["servers"].append({"name": "New", "protocol": "tcp", "host": "new.example.com", "port": 22})
    assert alice_client.post("/api/config/import/", doc, format="json").status_code == 200
    assert list(Server.objects.get(name="New").notification_configs.all()) == [config]


def test_an_unknown_notification_type_is_400_naming_it(setup, alice_client, charlie_client, charlie):
    """SPEC §18: an unknown ``notification_type`` is a 400 on every path, import included."""
    doc = alice_client.get("/api/config/export/").json()
    doc["status_pages"] = []
    doc["notification_configs"][0]["notification_type"] = "carrier-pigeon"
    r = charlie_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400
    [error] = r.json()["notification_configs"]
    assert error["index"] == 0 and "notification_type" in error["errors"]
    assert not NotificationConfig.objects.filter(team__personal_for=charlie).exists()


# --- the export's fast paths (issue 20): the same document as the serializers, YAML that reads back


def test_each_exported_server_is_what_its_serializer_shows(alice):
    """The export reads servers with one ``values_list``; each item is still the API's view of the
    server, field for field (JSON, choices, tags, floats, booleans), with its dependencies named."""
    from types import SimpleNamespace

    from api.serializers.servers import ServerSerializer

    base = make_server(alice, name="base", protocol="tcp", host="db.example.com", port=5432)
    rich = make_server(
        alice, name="rich", protocol="https", host="shop.example.com", tags=["prod", "eu"], keyword="Welcome",
        method="POST", request_headers={"X-A": "1"}, request_body='{"q": 1}', timeout=2.5, verify_tls=False,
        assertions=[{"source": "status_code", "comparison": "equals", "target": "200"}], degraded_threshold_ms=900,
        cert_expiry_alert_days=[30, 7], is_active=False,
    )  # fmt: skip
    rich.depends_on.add(base)
    doc = export_config(alice)
    exported = {item["name"]: item for item in doc["servers"]}
    context = {"request": SimpleNamespace(user=alice)}
    for server in (base, rich):
        shown = ServerSerializer(Server.objects.get(pk=server.pk), context=context).data
        expected = {name: shown[name] for name in server_fields(alice) if name != "depends_on"}
        if server == rich:
            expected["depends_on"] = ["base"]
        assert exported[server.name] == expected
    assert list(exported["rich"])[-1] == "depends_on"  # after the other fields, as before


@pytest.mark.parametrize(
    "value",
    [
        "yes", "No", "on", "null", "~", "", "1:20", "0x1f", "1_000", "2026-12-03", "=", "<<", "- a", "a: b",
        "a #b", "#x", "@x", "'q'", '"d"', "tab\tx", "two\nlines", "\x85", "\u2028", "\ufeff", "nul\x00", "\x7f",
        "é 日本 😀", " lead", "trail ", "x:", "http://x.example.com:80/p?q=1", ".5", "1e3", "-", "?", "|", ">",
        "*a", "&a", "!tag", "%", "{}", "[]", "back\\slash", "...", "---", ".inf", "007",
        1, -5, 10**20, 0.1, 1e-05, 1e16, 3.0, -0.0, float("inf"), True, False, None, {}, [], [[1, []], {"k": {}}],
    ],
)  # fmt: skip
def test_yaml_export_reads_back_as_the_same_value(value):
    from api.parsers import dump_yaml, load_yaml

    doc = {"version": 1, "servers": [{"name": "web", "value": value, "list": [value, {"k": value}]}]}
    text = dump_yaml(doc)
    assert load_yaml(text) == doc
    assert yaml.safe_load(text) == doc


def test_yaml_export_writes_plain_words_plainly():
    from api.parsers import dump_yaml

    doc = {"servers": [{"name": "web-1", "tags": ["prod"], "port": 443, "headers": {}, "yes": "yes"}]}
    assert dump_yaml(doc) == 'servers:\n- name: web-1\n  tags:\n  - prod\n  port: 443\n  headers: {}\n  "yes": "yes"\n'
