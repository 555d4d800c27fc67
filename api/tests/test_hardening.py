"""Requests a hostile client sends on purpose: none answers 500, none tells a stranger what exists."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from monitoring.tests.alerting import go_down
from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db

TIMED = ["/api/ping-results/", "/api/notification-deliveries/", "/api/incidents/"]
FILTERED_BY_SERVER = [
    "/api/ping-results/",
    "/api/server-status/",
    "/api/notification-configs/",
    "/api/notification-deliveries/",
    "/api/incidents/",
    "/api/certificates/",
]
TWENTY_DIGITS = "99999999999999999999"
NESTED = "[" * 1000 + "]" * 1000


def assert_400_naming(response, field: str) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in response.json(), response.json()


@pytest.mark.parametrize("url", TIMED)
@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00-23:59",
        "2026-01-01T00:00:00+16:00",
        "2026-01-01T00:00:00+99:99",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_an_impossible_time_answers_400_naming_the_parameter(alice, alice_client, url, name, value):
    make_ping(make_server(alice))
    assert_400_naming(alice_client.get(url, {name: value}), name)


@pytest.mark.parametrize("url", FILTERED_BY_SERVER)
@pytest.mark.parametrize("value", [TWENTY_DIGITS, "9223372036854775808", "-1", "0"])
def test_an_out_of_range_server_filter_answers_400(alice, alice_client, url, value):
    make_ping(make_server(alice))
    assert_400_naming(alice_client.get(url, {"server": value}), "server")


@pytest.mark.parametrize("value", [TWENTY_DIGITS, "9223372036854775808"])
def test_an_out_of_range_config_filter_answers_400(alice_client, value):
    assert_400_naming(alice_client.get("/api/notification-deliveries/", {"config": value}), "config")


@pytest.mark.parametrize("url", FILTERED_BY_SERVER)
def test_another_users_server_id_and_a_missing_one_answer_the_same(alice, charlie_client, url):
    mine = make_server(alice)
    make_ping(mine)
    theirs = charlie_client.get(url, {"server": mine.pk})
    missing = charlie_client.get(url, {"server": mine.pk + 1000})
    assert theirs.status_code == missing.status_code == 200
    assert theirs.json() == missing.json()
    assert theirs.json()["results"] == []


def test_a_20_digit_server_id_in_checks_run_answers_400(bob_client):
    assert_400_naming(
        bob_client.post("/api/checks/run/", {"server_ids": [int(TWENTY_DIGITS)]}, format="json"), "server_ids"
    )


def test_a_path_of_2000_characters_without_a_slash_answers_400(alice_client):
    body = {"name": "x", "protocol": "https", "host": "example.com", "path": "a" * 2000}
    assert_400_naming(alice_client.post("/api/servers/", body, format="json"), "path")
    ok = alice_client.post("/api/servers/", dict(body, path="a" * 1999), format="json")
    assert ok.status_code == 201 and ok.json()["path"] == "/" + "a" * 1999


@pytest.mark.parametrize(
    "method, url, auth",
    [
        ("post", "/api/auth/register/", False),
        ("post", "/api/auth/token/", False),
        ("post", "/api/auth/token/refresh/", False),
        ("post", "/api/auth/token/verify/", False),
        ("patch", "/api/auth/me/", True),
        ("post", "/api/servers/", True),
        ("post", "/api/notification-configs/", True),
        ("post", "/api/checks/run/", True),
    ],
)
def test_deeply_nested_json_answers_400(bob, bob_client, method, url, auth):
    client = bob_client if auth else APIClient()
    response = client.generic(method.upper(), url, NESTED, content_type="application/json")
    assert response.status_code == 400, response.content[:300]


def test_deeply_nested_json_in_a_server_update_answers_400(alice, alice_client):
    server = make_server(alice)
    response = alice_client.generic("PUT", f"/api/servers/{server.pk}/", NESTED, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("url", ["/api/ping-results/", "/api/servers/"])
@pytest.mark.parametrize("cursor", ["cD0yMDI2", "cD0yMDI2LTAxLTAx", "cD0lMDA=", "cj0xJnA9eA==", "%00"])
def test_a_forged_cursor_answers_404_not_500(alice, alice_client, url, cursor):
    make_ping(make_server(alice))
    response = alice_client.get(url, {"cursor": cursor})
    assert response.status_code in (200, 404), (response.status_code, response.content[:300])
    if url == "/api/ping-results/" and cursor != "cD0yMDI2LTAxLTAx":  # p=2026-01-01 is a real position
        assert response.status_code == 404


def test_refreshing_the_token_of_a_deleted_user_answers_401(alice):
    refresh = str(RefreshToken.for_user(alice))
    User.objects.filter(pk=alice.pk).delete()
    response = APIClient().post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 401, response.content


@pytest.mark.parametrize(
    "url, query, field",
    [
        ("/api/certificates/", "valid=maybe", "valid"),
        ("/api/certificates/", "needs_renewal=perhaps", "needs_renewal"),
        ("/api/certificates/", "latest=sometimes", "latest"),
        ("/api/incidents/", "open=maybe", "open"),
        ("/api/notification-configs/", "enabled=maybe", "enabled"),
        ("/api/servers/", "is_active=maybe", "is_active"),
    ],
)
def test_an_unknown_boolean_filter_value_answers_400_naming_it(alice_client, url, query, field):
    response = alice_client.get(f"{url}?{query}")
    assert_400_naming(response, field)
    assert query.split("=")[1] in str(response.json()[field])


@pytest.mark.parametrize("value, expected", [("true", True), ("false", False), ("1", True), ("0", False)])
def test_known_boolean_filter_values_still_filter(alice, alice_client, value, expected):
    server = make_server(alice)
    go_down(server)
    incident = server.incidents.get()
    ids = [i["id"] for i in alice_client.get("/api/incidents/", {"open": value}).json()["results"]]
    assert ids == ([incident.pk] if expected else [])
