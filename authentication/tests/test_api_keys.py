"""Team API keys on the REST API and /metrics (SPEC §17): made by admins and owners, shown once,
stored as a digest, acting as their team with their scope, revoked at once."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from authentication import keys
from authentication.models import ApiKey, AuditEntry, Membership, Role, Team
from monitoring.models import NotificationConfig, Server, StatusPage
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db

SERVER = {"name": "Shop", "protocol": "https", "host": "shop.example.com", "check_interval": 60, "timeout": 5}


def team_of(user: Any) -> Team:
    return Team.objects.get(personal_for=user)


def url(team: Team, pk: int | None = None) -> str:
    return f"/api/teams/{team.slug}/api-keys/" + (f"{pk}/" if pk is not None else "")


def make_key(team: Team, scope: str = ApiKey.Scope.WRITE, by: Any = None) -> tuple[ApiKey, str]:
    return keys.create(team, f"{scope} key", scope, by)


def key_client(raw: str, via: str = "bearer") -> APIClient:
    client = APIClient()
    if via == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.fixture
def team(alice: Any) -> Team:
    return team_of(alice)


@pytest.fixture
def write_key(team: Team, alice: Any) -> tuple[ApiKey, str]:
    return make_key(team, ApiKey.Scope.WRITE, alice)


@pytest.fixture
def read_key(team: Team, alice: Any) -> tuple[ApiKey, str]:
    return make_key(team, ApiKey.Scope.READ, alice)


# --- Making, listing and revoking keys.


def test_an_owner_makes_a_key_that_is_shown_once_and_stored_as_a_digest(alice, alice_client, team):
    r = alice_client.post(url(team), {"name": " CI deploys ", "scope": "write"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    raw = body["key"]
    assert raw.startswith("pgk_") and len(raw) == 47
    assert body["name"] == "CI deploys" and body["scope"] == "write" and body["prefix"] == raw[:12]
    assert body["created_by"] == {"id": alice.pk, "username": "alice"}
    assert body["created_at"] and body["last_used_at"] is None
    row = ApiKey.objects.get(pk=body["id"])
    assert row.team == team and row.created_by == alice
    expected = hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()
    assert row.key_hash == expected
    stored = [str(v) for v in ApiKey.objects.values_list(*[f.attname for f in ApiKey._meta.fields]).get()]
    assert not any(raw in value for value in stored), "the key itself is stored nowhere"
    audit = AuditEntry.objects.get(action="key_create")
    assert audit.team_id == team.pk and audit.object_id == str(row.pk) and audit.actor_id == alice.pk
    assert raw not in str(AuditEntry.objects.values().get())


def test_the_key_is_never_shown_again(alice_client, team, write_key):
    key, raw = write_key
    listed = alice_client.get(url(team))
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert row["prefix"] == raw[:12] and row["name"] == key.name and "key" not in row
    assert raw not in listed.content.decode()
    one = alice_client.get(url(team, key.pk))
    assert one.status_code == 200 and "key" not in one.json() and raw not in one.content.decode()


def test_an_admin_may_make_keys_but_members_and_viewers_may_not(alice, charlie, charlie_client, team):
    membership = Membership.objects.create(team=team, user=charlie, role=Role.MEMBER)
    for role in (Role.MEMBER, Role.VIEWER):
        Membership.objects.filter(pk=membership.pk).update(role=role)
        assert charlie_client.post(url(team), {"name": "x", "scope": "read"}, format="json").status_code == 403
        assert charlie_client.get(url(team)).status_code == 403
    assert not ApiKey.objects.exists()
    Membership.objects.filter(pk=membership.pk).update(role=Role.ADMIN)
    assert charlie_client.post(url(team), {"name": "x", "scope": "read"}, format="json").status_code == 201
    assert charlie_client.get(url(team)).status_code == 200


def test_a_team_you_are_not_in_answers_404(charlie_client, team, write_key):
    key, _ = write_key
    assert charlie_client.post(url(team), {"name": "x", "scope": "read"}, format="json").status_code == 404
    assert charlie_client.get(url(team)).status_code == 404
    assert charlie_client.delete(url(team, key.pk)).status_code == 404
    assert charlie_client.get("/api/teams/no-such-team/api-keys/").status_code == 404
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_another_teams_key_id_answers_404(alice_client, team, charlie):
    theirs, _ = make_key(team_of(charlie))
    assert alice_client.delete(url(team, theirs.pk)).status_code == 404
    assert ApiKey.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "scope": "admin"}, "scope"),
        ({"name": "x", "scope": ["write"]}, "scope"),
        ({"scope": "read"}, "name"),
        ({"name": "   ", "scope": "read"}, "name"),
        ({"name": "a\x00b", "scope": "read"}, "name"),
        ({"name": "x" * 101, "scope": "read"}, "name"),
    ],
)
def test_bad_input_answers_400_naming_the_field(alice_client, team, payload, field):
    r = alice_client.post(url(team), payload, format="json")
    assert r.status_code == 400 and field in r.json()
    assert not ApiKey.objects.exists()


def test_a_key_made_without_a_scope_only_reads(alice_client, team):
    r = alice_client.post(url(team), {"name": "dashboards"}, format="json")
    assert r.status_code == 201 and r.json()["scope"] == "read"


def test_delete_revokes_the_key_at_once(alice, alice_client, team, write_key):
    key, raw = write_key
    client = key_client(raw)
    assert client.get("/api/servers/").status_code == 200
    assert alice_client.delete(url(team, key.pk)).status_code == 204
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    r = client.get("/api/servers/")
    assert r.status_code == 401 and "WWW-Authenticate" in r
    audit = AuditEntry.objects.get(action="key_delete")
    assert audit.team_id == team.pk and audit.object_id == str(key.pk) and audit.actor_id == alice.pk


def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(write_key):
    key, raw = write_key
    client = key_client(raw)
    assert client.get("/api/servers/").status_code == 200
    ApiKey.objects.filter(pk=key.pk).delete()  # as another web process would: no cache to clear here
    assert client.get("/api/servers/").status_code == 401


def test_a_key_may_not_make_list_or_revoke_keys(team, write_key):
    key, raw = write_key
    for client in (key_client(raw), key_client(raw, via="header")):
        assert client.post(url(team), {"name": "more", "scope": "write"}, format="json").status_code == 403
        assert client.get(url(team)).status_code == 403
        assert client.delete(url(team, key.pk)).status_code == 403
    assert list(ApiKey.objects.values_list("pk", flat=True)) == [key.pk]


# --- Authenticating with a key.


@pytest.mark.parametrize("via", ["bearer", "header"])
def test_a_key_acts_as_its_team_and_sees_only_its_objects(alice, charlie, team, write_key, via):
    mine, theirs = make_server(alice, name="mine"), make_server(charlie, name="theirs")
    client = key_client(write_key[1], via=via)
    r = client.get("/api/servers/")
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["results"]] == [mine.pk]
    assert client.get(f"/api/servers/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/servers/{theirs.pk}/", {"name": "taken"}, format="json").status_code == 404
    assert client.delete(f"/api/servers/{theirs.pk}/").status_code == 404
    assert Server.objects.get(pk=theirs.pk).name == "theirs"


@pytest.mark.parametrize(
    "raw",
    [
        "pgk_" + "A" * 43,  # well formed, made by nobody
        "pgk_short",
        "pgk_" + "A" * 42 + "!",
    ],
)
def test_an_unknown_key_answers_401_and_never_falls_back(alice, raw):
    client = APIClient()
    client.force_login(alice)  # a session too: a presented key decides alone
    for headers in ({"HTTP_AUTHORIZATION": f"Bearer {raw}"}, {"HTTP_X_API_KEY": raw}):
        r = client.get("/api/servers/", **headers)
        assert r.status_code == 401 and r.json()["detail"] == keys.UNKNOWN


def test_an_x_api_key_that_is_no_key_answers_401(alice_client):
    r = alice_client.get("/api/servers/", HTTP_X_API_KEY="not-a-key")
    assert r.status_code == 401


def test_a_jwt_still_authenticates_after_the_key_authenticator(alice, alice_client):
    make_server(alice)
    assert alice_client.get("/api/servers/").status_code == 200
    assert APIClient().get("/api/servers/").status_code == 401, "anonymous is still 401, not 403"


def test_a_write_key_creates_servers_in_its_team(alice, charlie, team, write_key):
    client = key_client(write_key[1])
    r = client.post("/api/servers/", SERVER, format="json")
    assert r.status_code == 201, r.content
    server = Server.objects.get(pk=r.json()["id"])
    assert server.team == team and server.owner is None
    named = client.post("/api/servers/", dict(SERVER, team=team.slug), format="json")
    assert named.status_code == 201 and Server.objects.get(pk=named.json()["id"]).team == team
    other = client.post("/api/servers/", dict(SERVER, team=team_of(charlie).slug), format="json")
    assert other.status_code == 400 and "team" in other.json()
    assert client.patch(f"/api/servers/{server.pk}/", {"name": "Renamed"}, format="json").status_code == 200
    assert client.post(f"/api/servers/{server.pk}/pause/").status_code == 200
    assert client.delete(f"/api/servers/{server.pk}/").status_code == 204
    assert Server.objects.filter(team=team).count() == 1


def test_a_write_key_imports_into_its_team(team, write_key):
    doc = {"version": 1, "servers": [dict(SERVER, name="imported")]}
    r = key_client(write_key[1]).post("/api/config/import/", doc, format="json")
    assert r.status_code == 200, r.content
    server = Server.objects.get(name="imported")
    assert server.team == team and server.owner is None


def test_a_read_key_reads_but_every_change_is_403(alice, team, read_key):
    server = make_server(alice, name="kept")
    client = key_client(read_key[1])
    assert client.get("/api/servers/").status_code == 200
    assert client.get(f"/api/servers/{server.pk}/").status_code == 200
    assert client.head("/api/servers/").status_code == 200
    assert client.options("/api/servers/").status_code == 200
    assert client.get("/api/server-status/").status_code == 200
    refused = [
        client.post("/api/servers/", SERVER, format="json"),
        client.put(f"/api/servers/{server.pk}/", SERVER, format="json"),
        client.patch(f"/api/servers/{server.pk}/", {"name": "changed"}, format="json"),
        client.delete(f"/api/servers/{server.pk}/"),
        client.post(f"/api/servers/{server.pk}/pause/"),
        client.post("/api/config/import/", {"version": 1, "servers": [SERVER]}, format="json"),
        client.post("/api/checks/run/", {}, format="json"),
        client.post("/api/check-ssl/", {}, format="json"),
        client.patch("/api/auth/me/", {"first_name": "x"}, format="json"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert "read" in refused[0].json()["detail"]
    assert list(Server.objects.values_list("name", flat=True)) == ["kept"]


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str | None, URLPattern, str]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            found += _routes(pattern.url_patterns, ns)
        else:
            found.append((pattern.name, pattern, prefix))
    return found


def test_every_api_endpoint_that_authenticates_refuses_a_read_keys_changes(alice, team, read_key):
    """Every DRF view behind the key authenticator, whatever its permission classes: 403, nothing changed."""
    server = make_server(alice)
    key, raw = read_key
    client = key_client(raw)
    values = {"pk": server.pk, "slug": team.slug, "token": "x", "id": server.pk, "user_id": alice.pk}
    before = (Server.objects.count(), NotificationConfig.objects.count(), StatusPage.objects.count())
    checked = 0
    for name, pattern, ns in _routes(get_resolver().url_patterns):
        params = set(pattern.pattern.regex.groupindex)
        if not name or "format" in params or not params <= set(values):
            continue
        path = reverse(f"{ns}{name}", kwargs={p: values[p] for p in params})
        view = getattr(resolve(path).func, "cls", None)
        if view is None or keys.ApiKeyAuthentication not in getattr(view, "authentication_classes", ()):
            continue  # not a DRF view, or one that authenticates nobody (push, token, register)
        for method in ("post", "put", "patch", "delete"):
            r = getattr(client, method)(path, {}, format="json")
            assert r.status_code == 403, (method, path, r.status_code)
            checked += 1
    assert checked >= 60, checked
    assert (Server.objects.count(), NotificationConfig.objects.count(), StatusPage.objects.count()) == before
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_a_key_is_no_person(alice, write_key):
    client = key_client(write_key[1])
    assert client.get("/api/auth/me/").status_code == 403
    assert client.patch("/api/auth/me/", {"first_name": "Key"}, format="json").status_code == 403
    assert client.delete("/api/auth/me/").status_code == 403
    assert client.post("/api/checks/run/", {}, format="json").status_code == 403, "staff only"
    for path in ("/api/auth/token/verify/", "/api/auth/token/refresh/"):
        r = client.post(path, {"token": write_key[1], "refresh": write_key[1]}, format="json")
        assert r.status_code == 401, path
    assert client.post("/api/auth/token/", {}, format="json").status_code in {400, 401}
    alice.refresh_from_db()
    assert alice.is_active and alice.first_name == ""


def test_last_used_at_is_written_at_most_once_a_minute(write_key):
    key, raw = write_key
    client = key_client(raw)
    assert client.get("/api/servers/").status_code == 200
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    table = ApiKey._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/servers/").status_code == 200
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and table in q["sql"]], "no write this time"
    key.refresh_from_db()
    assert key.last_used_at == first
    old = timezone.now() - timedelta(seconds=61)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=old)
    assert client.get("/api/servers/").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at > old + timedelta(seconds=60)


def test_touch_writes_only_keys_not_noted_in_the_last_minute(team):
    fresh, _ = make_key(team)
    stale, _ = make_key(team)
    recent = timezone.now() - timedelta(seconds=10)
    ApiKey.objects.filter(pk=fresh.pk).update(last_used_at=recent)
    fresh.refresh_from_db()
    stale.last_used_at = None
    keys.touch([fresh, stale])
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.last_used_at == recent and stale.last_used_at is not None


def test_the_schema_documents_both_ways_to_present_a_key(alice_client):
    schema = alice_client.get("/api/schema/?format=json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKeyBearer"]["scheme"] == "bearer"
    assert schemes["apiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A team API key: X-Api-Key: pgk_…",
    }
    assert {"apiKeyHeader": []} in schema["paths"]["/api/servers/"]["get"]["security"]
    assert {"apiKeyHeader": []} not in schema["paths"]["/api/auth/me/"]["get"]["security"]
    assert "/api/teams/{slug}/api-keys/" in schema["paths"]


# --- /metrics with a key.


def scrape(response: Any) -> set[tuple[str, str]]:
    """(metric name, server_id) of every per-server sample, and the families present."""
    assert response.status_code == 200, response.content
    found = set()
    for family in text_string_to_metric_families(response.content.decode()):
        found.add((family.name, ""))
        for sample in family.samples:
            if "server_id" in sample.labels:
                found.add((sample.name, sample.labels["server_id"]))
    return found


@pytest.mark.parametrize("via", ["bearer", "header"])
def test_a_key_scrapes_only_its_teams_series_from_anywhere(alice, charlie, read_key, via):
    mine, theirs = make_server(alice, name="mine"), make_server(charlie, name="theirs")
    header = {"HTTP_AUTHORIZATION": f"Bearer {read_key[1]}"} if via == "bearer" else {"HTTP_X_API_KEY": read_key[1]}
    samples = scrape(Client().get("/metrics", REMOTE_ADDR="203.0.113.7", **header))
    assert ("pulseguard_server_status", str(mine.pk)) in samples
    assert not [s for s in samples if s[1] == str(theirs.pk)]
    assert ("pulseguard_servers", "") in samples
    assert ("pulseguard_checks", "") not in samples, "the install's counters are not a team's"
    everything = scrape(Client().get("/metrics"))  # loopback, no token: every server, as before
    assert ("pulseguard_server_status", str(theirs.pk)) in everything and ("pulseguard_checks", "") in everything


def test_metrics_with_a_token_set_take_the_token_or_a_key(alice, charlie, read_key):
    mine, theirs = make_server(alice), make_server(charlie)
    with override_settings(METRICS_TOKEN="metrics-token-0123456789"):
        assert Client().get("/metrics").status_code == 401
        full = scrape(Client().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0123456789"))
        assert {("pulseguard_server_status", str(s.pk)) for s in (mine, theirs)} <= full
        scoped = scrape(Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {read_key[1]}"))
        assert ("pulseguard_server_status", str(mine.pk)) in scoped
        assert ("pulseguard_server_status", str(theirs.pk)) not in scoped


def test_metrics_refuse_an_unknown_or_revoked_key(read_key):
    key, raw = read_key
    key.delete()
    for headers in ({"HTTP_AUTHORIZATION": f"Bearer {raw}"}, {"HTTP_X_API_KEY": raw}):
        r = Client().get("/metrics", **headers)
        assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")


def test_each_key_has_check_now_slots_of_its_own(alice, team):
    from api.views import check_now_slot

    server = make_server(alice)
    first, second = (keys.KeyPrincipal(make_key(team)[0]) for _ in range(2))
    with override_settings(CHECK_NOW_PER_USER=1), check_now_slot(first, server) as taken:
        assert taken
        with check_now_slot(second, server) as also, check_now_slot(alice, server) as hers:
            assert also and hers, "another key's (or a person's) check now does not take this key's slot"
        with check_now_slot(first, server) as again:
            assert not again
