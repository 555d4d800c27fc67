"""Registration, JWT issue/refresh/verify, the current user, and the login throttle."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from conftest import client_for

pytestmark = pytest.mark.django_db


def test_it_registers_a_user_and_hides_the_password(anon_client):
    r = anon_client.post(
        "/api/auth/register/",
        {"username": "dana", "email": "dana@example.com", "password": "a-long-passphrase-9"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["username"] == "dana" and "password" not in r.json()
    user = User.objects.get(username="dana")
    assert user.check_password("a-long-passphrase-9") and user.email == "dana@example.com"


def test_registration_rejects_a_weak_password_and_a_taken_name(anon_client, alice):
    r = anon_client.post(
        "/api/auth/register/", {"username": "alice", "email": "x@example.com", "password": "123"}, format="json"
    )
    assert r.status_code == 400
    assert "username" in r.json() and "password" in r.json()
    assert User.objects.count() == 1


def test_registration_rejects_a_missing_email_and_nul_characters(anon_client):
    r = anon_client.post(
        "/api/auth/register/", {"username": "ev\x00e", "password": "a-long-passphrase-9"}, format="json"
    )
    assert r.status_code == 400
    assert set(r.json()) >= {"email", "username"}


def test_token_pair_refresh_and_verify(anon_client, alice):
    r = anon_client.post("/api/auth/token/", {"username": "alice", "password": "alice-password-1"}, format="json")
    assert r.status_code == 200
    pair = r.json()
    assert anon_client.post("/api/auth/token/verify/", {"token": pair["access"]}, format="json").status_code == 200
    r = anon_client.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert r.status_code == 200 and "access" in r.json()
    bad = anon_client.post("/api/auth/token/verify/", {"token": "not-a-jwt"}, format="json")
    assert bad.status_code == 401


def test_wrong_password_gets_401(anon_client, alice):
    r = anon_client.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert r.status_code == 401


def test_me_shows_and_updates_the_current_user(alice_client, alice):
    r = alice_client.get("/api/auth/me/")
    assert r.status_code == 200 and r.json()["username"] == "alice" and "password" not in r.json()
    r = alice_client.patch("/api/auth/me/", {"first_name": "Alice", "is_staff": True}, format="json")
    assert r.status_code == 200
    alice.refresh_from_db()
    assert alice.first_name == "Alice" and not alice.is_staff


def test_me_changes_the_password_only_when_it_is_strong(alice_client, alice):
    current = {"current_password": "alice-password-1"}
    assert alice_client.patch("/api/auth/me/", {"password": "1", **current}, format="json").status_code == 400
    r = alice_client.patch("/api/auth/me/", {"password": "a-better-passphrase-7", **current}, format="json")
    assert r.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("a-better-passphrase-7")


@pytest.mark.parametrize("change", [{"password": "a-better-passphrase-7"}, {"email": "mallory@example.com"}])
@pytest.mark.parametrize("current", [None, "", "wrong-password"])
def test_a_password_or_email_change_needs_the_current_password(alice_client, alice, change, current):
    # SPEC §17: a stolen bearer token alone must not take the account over.
    body = change if current is None else {**change, "current_password": current}
    r = alice_client.patch("/api/auth/me/", body, format="json")
    assert r.status_code == 400 and "current_password" in r.json(), r.content
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1") and alice.email == "alice@example.com"


def test_an_email_change_with_the_current_password_works(alice_client, alice):
    body = {"email": "alice@new.example.com", "current_password": "alice-password-1"}
    assert alice_client.patch("/api/auth/me/", body, format="json").status_code == 200
    alice.refresh_from_db()
    assert alice.email == "alice@new.example.com"
    # Sending the unchanged e-mail (a form posting every field) needs no password. (The change
    # ended the old token, test_password_change.py; a fresh one is used.)
    from conftest import client_for

    assert client_for(alice).patch("/api/auth/me/", {"email": alice.email}, format="json").status_code == 200


def test_me_delete_removes_the_account(alice_client, alice):
    assert alice_client.delete("/api/auth/me/").status_code == 204
    assert not User.objects.filter(pk=alice.pk).exists()


def test_me_needs_credentials(anon_client):
    assert anon_client.get("/api/auth/me/").status_code == 401


def test_an_expired_or_garbage_bearer_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    assert client.get("/api/servers/").status_code == 401


def test_session_login_also_works_for_the_api(alice):
    client = APIClient()
    client.force_login(alice)
    assert client.get("/api/auth/me/").json()["username"] == "alice"


@override_settings(AUTH_THROTTLE_RATE="3/minute")
def test_login_is_throttled_per_client_address(anon_client, alice):
    codes = [
        anon_client.post("/api/auth/token/", {"username": "alice", "password": "x"}, format="json").status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    other_address = anon_client.post(
        "/api/auth/token/",
        {"username": "alice", "password": "alice-password-1"},
        format="json",
        REMOTE_ADDR="127.0.0.9",
    )
    assert other_address.status_code == 200


def test_client_for_gives_a_working_bearer(alice):
    assert client_for(alice).get("/api/auth/me/").status_code == 200


def test_the_token_endpoint_ignores_otp_for_a_user_without_two_factor(anon_client, alice):
    body = {"username": "alice", "password": "alice-password-1", "otp": "123456"}
    assert anon_client.post("/api/auth/token/", body, format="json").status_code == 200


def test_an_otp_that_is_not_text_is_a_400_naming_it(anon_client, alice):
    body = {"username": "alice", "password": "alice-password-1", "otp": {"code": 1}}
    response = anon_client.post("/api/auth/token/", body, format="json")
    assert response.status_code == 400 and "otp" in response.json()


@pytest.mark.parametrize("field", ["password", "email"])
def test_the_current_password_is_checked_before_anything_changes_also_by_session(alice, field):
    # SPEC §17: the web session (the account page, the dashboard's scripts) obeys the same rule.
    client = APIClient()
    client.force_login(alice)
    change = {"password": "a-better-passphrase-7"} if field == "password" else {"email": "m@example.com"}
    response = client.patch("/api/auth/me/", change, format="json")
    assert response.status_code == 400 and list(response.json()) == ["current_password"]
    alice.refresh_from_db()
    assert alice.check_password("alice-password-1") and alice.email == "alice@example.com"
