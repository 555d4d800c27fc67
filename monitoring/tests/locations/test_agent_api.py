"""The probe agent API (SPEC §20): who may call it, claims with leases, results stored once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from authentication import keys
from authentication.teams import personal_team
from monitoring.models import AgentReceipt, AgentToken, PingResult, ServerLocation
from monitoring.tests.factories import make_server
from monitoring.tests.locations.agent_helpers import agent_client, checked_from, make_location, result

ENDPOINTS = ["/api/agent/claim/", "/api/agent/results/", "/api/agent/heartbeat/"]
CLAIM = {"owner": "agent-a", "limit": 10}


def freeze_time(moment: datetime | str):  # type: ignore[no-untyped-def]
    """The clock of ``timezone.now()`` stopped at ``moment``."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return mock.patch("django.utils.timezone.now", return_value=moment)


def post(client: APIClient, url: str, body: dict | None = None):  # type: ignore[no-untyped-def]
    return client.post(url, body or {}, format="json")


# --- who may call it


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS)
def test_no_token_or_an_unknown_one_is_401(url, alice):
    assert post(APIClient(), url).status_code == 401
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer pga_" + "x" * 43)
    answer = post(stranger, url)
    assert answer.status_code == 401 and "agent token" in answer.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_revoked_token_is_401_at_once(url, alice):
    client, _ = agent_client(make_location(alice))
    AgentToken.objects.all().delete()
    assert post(client, url).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_persons_sign_in_or_a_team_key_is_403(url, alice, alice_client):
    assert post(alice_client, url).status_code == 403  # JWT
    session = APIClient()
    session.force_login(alice)
    assert post(session, url).status_code == 403
    _, raw = keys.create(personal_team(alice), "ci", "write", alice)
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = post(keyed, url)
    assert answer.status_code == 403 and "agent's token" in answer.json()["detail"]


@pytest.mark.django_db
def test_an_agent_token_is_refused_by_the_rest_of_the_api(alice):
    client, _ = agent_client(make_location(alice))
    assert client.get("/api/servers/").status_code == 401


@pytest.mark.django_db
def test_each_call_notes_the_location_and_token_seen_at_most_every_few_seconds(alice):
    location = make_location(alice)
    client, _ = agent_client(location)
    with freeze_time("2026-12-03 10:00:00"):
        answer = post(client, "/api/agent/heartbeat/")
    assert answer.status_code == 200
    assert answer.json()["location"] == {"slug": "eu-west", "name": "Eu West"}
    location.refresh_from_db()
    first = location.last_seen_at
    assert first is not None and AgentToken.objects.get().last_used_at == first
    with freeze_time("2026-12-03 10:00:02"):
        post(client, "/api/agent/heartbeat/")
    location.refresh_from_db()
    assert location.last_seen_at == first, "not written again within a few seconds"
    with freeze_time("2026-12-03 10:00:09"):
        post(client, "/api/agent/heartbeat/")
    location.refresh_from_db()
    assert location.last_seen_at > first


# --- claims


@pytest.mark.django_db
def test_a_claim_answers_the_locations_due_checks_with_all_a_probe_needs(alice):
    location = make_location(alice)
    server = checked_from(alice, location, basic_auth_username="u", basic_auth_password="secret", path="/health")
    checked_from(alice, location, name="later", due=timezone.now() + timedelta(minutes=5))
    checked_from(alice, make_location(alice, "elsewhere"), name="not here")
    make_server(alice, name="scheduler's own")
    checked_from(alice, location, name="push", protocol="push")
    checked_from(alice, location, name="paused", is_active=False)
    client, _ = agent_client(location)
    answer = post(client, "/api/agent/claim/", CLAIM).json()
    assert [c["server"]["id"] for c in answer["checks"]] == [server.pk]
    check = answer["checks"][0]
    assert check["server"]["basic_auth_password"] == "secret" and check["server"]["path"] == "/health"
    assert "badge_key" not in check["server"] and "push_token" not in check["server"]
    assert check["lease_until"] and check["due_at"] and check["next_due_at"]
    row = ServerLocation.objects.get(server=server)
    assert row.lease_owner == "agent-a" and row.lease_until is not None


@pytest.mark.django_db
def test_two_agents_never_get_the_same_check(alice):
    location = make_location(alice)
    servers = [checked_from(alice, location, name=f"s{n}") for n in range(6)]
    first, _ = agent_client(location)
    second, _ = agent_client(location)
    a = post(first, "/api/agent/claim/", {"owner": "a", "limit": 4}).json()["checks"]
    b = post(second, "/api/agent/claim/", {"owner": "b", "limit": 10}).json()["checks"]
    ids_a, ids_b = {c["server"]["id"] for c in a}, {c["server"]["id"] for c in b}
    assert len(ids_a) == 4 and len(ids_b) == 2 and not ids_a & ids_b
    assert ids_a | ids_b == {s.pk for s in servers}
    assert post(first, "/api/agent/claim/", {"owner": "a"}).json()["checks"] == []


@pytest.mark.django_db
def test_a_killed_agents_lease_ends_and_its_check_is_claimed_again_for_the_same_due_time(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    client, _ = agent_client(location)
    due = post(client, "/api/agent/claim/", {"owner": "dead"}).json()["checks"][0]["due_at"]
    assert post(client, "/api/agent/claim/", {"owner": "alive"}).json()["checks"] == []
    with freeze_time(timezone.now() + timedelta(minutes=2)):
        again = post(client, "/api/agent/claim/", {"owner": "alive"}).json()["checks"]
    assert [c["server"]["id"] for c in again] == [server.pk] and again[0]["due_at"] == due


@pytest.mark.django_db
def test_heartbeat_renews_and_releases_the_owners_leases_only(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    client, _ = agent_client(location)
    post(client, "/api/agent/claim/", {"owner": "a"})
    before = ServerLocation.objects.get().lease_until
    with freeze_time(timezone.now() + timedelta(seconds=5)):
        answer = post(client, "/api/agent/heartbeat/", {"owner": "a", "renew": [server.pk]}).json()
    assert answer["renewed"] == 1 and ServerLocation.objects.get().lease_until > before
    assert post(client, "/api/agent/heartbeat/", {"owner": "b", "release": [server.pk]}).json()["released"] == 0
    assert post(client, "/api/agent/heartbeat/", {"owner": "a", "release": [server.pk]}).json()["released"] == 1
    assert ServerLocation.objects.get().lease_owner == ""


# --- results


def claim_and_result(client: APIClient, server, key: str = "key-00000001", **fields):  # type: ignore[no-untyped-def]
    post(client, "/api/agent/claim/", CLAIM)
    return {"owner": "agent-a", "results": [result(server, key, **fields)]}


@pytest.mark.django_db
def test_a_result_is_stored_with_its_location_and_moves_that_locations_schedule(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    client, _ = agent_client(location)
    body = claim_and_result(client, server)
    answer = post(client, "/api/agent/results/", body)
    assert answer.json() == {"stored": 1, "duplicates": 0, "dropped": 0}
    ping = PingResult.objects.get()
    assert ping.location == location and ping.status_code == 200
    row = ServerLocation.objects.get()
    assert row.lease_owner == "" and row.next_check_at.isoformat() == body["results"][0]["next_due_at"].replace(
        "+00:00", "+00:00"
    )


@pytest.mark.django_db
def test_a_batch_sent_twice_is_stored_once(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    client, _ = agent_client(location)
    body = claim_and_result(client, server)
    body["results"].append(result(server, "key-00000002", buffered=True))
    body["results"].append(result(server, "key-00000002", buffered=True))  # twice in one batch too
    assert post(client, "/api/agent/results/", body).json() == {"stored": 2, "duplicates": 1, "dropped": 0}
    assert post(client, "/api/agent/results/", body).json() == {"stored": 0, "duplicates": 3, "dropped": 0}
    assert PingResult.objects.count() == 2 and AgentReceipt.objects.count() == 2


@pytest.mark.django_db
def test_a_result_whose_lease_was_lost_or_of_a_server_not_at_the_location_is_dropped(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    elsewhere = checked_from(alice, make_location(alice, "other"), name="other")
    client, _ = agent_client(location)
    body = claim_and_result(client, server)
    ServerLocation.objects.filter(server=server).update(lease_owner="someone-else")
    body["results"].append(result(elsewhere, "key-00000002", buffered=True))
    assert post(client, "/api/agent/results/", body).json() == {"stored": 0, "duplicates": 0, "dropped": 2}
    assert not PingResult.objects.exists()


@pytest.mark.django_db
def test_a_buffered_result_moves_the_schedule_forward_only(alice):
    location = make_location(alice)
    later = timezone.now() + timedelta(hours=1)
    server = checked_from(alice, location, due=later)
    client, _ = agent_client(location)
    body = {"owner": "agent-a", "results": [result(server, "key-00000001", buffered=True)]}
    assert post(client, "/api/agent/results/", body).json()["stored"] == 1
    assert ServerLocation.objects.get().next_check_at == later


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("checked_at", "99999-01-01T00:00:00Z"),
        ("checked_at", "2999-01-01T00:00:00Z"),
        ("checked_at", "yesterday"),
        ("error_message", "bad\x00byte"),
        ("detail", {"a": "b\x00"}),
        ("detail", [1, 2]),
        ("response_time", 1e308),
        ("status_code", 10**20),
        ("server_id", 10**30),
        ("server_id", -1),
        ("status", "fine"),
        ("key", "has spaces in it"),
        ("key", "x" * 65),
        ("value", "NaN"),
    ],
)
def test_bad_results_are_400_with_the_field_named(alice, field, value):
    location = make_location(alice)
    server = checked_from(alice, location)
    client, _ = agent_client(location)
    body = {"owner": "agent-a", "results": [{**result(server, "key-00000001"), field: value}]}
    answer = post(client, "/api/agent/results/", body)
    assert answer.status_code == 400, answer.content
    assert field in str(answer.json()), answer.json()


@pytest.mark.django_db
def test_a_batch_is_bounded_and_the_owner_checked(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    client, _ = agent_client(location)
    many = [result(server, f"key-{n:08d}") for n in range(1001)]
    assert "results" in post(client, "/api/agent/results/", {"owner": "a", "results": many}).json()
    assert "owner" in post(client, "/api/agent/results/", {"owner": "a b\x00", "results": []}).json()
    assert "limit" in post(client, "/api/agent/claim/", {"owner": "a", "limit": 10**9}).json()
    assert post(client, "/api/agent/results/", "[]").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_once_is_stored_once(alice):
    location = make_location(alice)
    server = checked_from(alice, location)
    _, raw = agent_client(location)
    body = {"owner": "agent-a", "results": [result(server, f"key-{n:08d}", buffered=True) for n in range(20)]}
    answers = []
    barrier = threading.Barrier(2)

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        barrier.wait()
        try:
            answers.append(post(client, "/api/agent/results/", body).json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["stored"] for a in answers) == [0, 20]
    assert PingResult.objects.count() == 20 and AgentReceipt.objects.count() == 20
