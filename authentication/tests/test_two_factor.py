"""Two-factor sign-in with TOTP (SPEC §17): enrolment over the API and the web, the code at every
way in (web login, admin login, token endpoint), each code once, ±1 step, recovery codes once,
the per-user count of wrong codes, and a team's ``require_two_factor``."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from authentication import two_factor
from authentication.models import Membership, RecoveryCode, Role, TwoFactor
from conftest import client_for
from monitoring.models import NotificationConfig, Server

pytestmark = pytest.mark.django_db

PASSWORD = "alice-password-1"


def code(secret: str, steps: int = 0) -> str:
    """The code of ``secret`` at now + ``steps`` × 30 s (as two_factor's clock sees now)."""
    return pyotp.TOTP(secret).at(two_factor.clock() + steps * two_factor.STEP)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Hold two_factor's clock in the middle of a step (codes made and checked agree on it);
    ``frozen["now"] += 30`` moves it on by a step."""
    state = {"now": (time.time() // 30) * 30 + 15}
    monkeypatch.setattr(two_factor, "clock", lambda: state["now"])
    return state


def enrol(client: Any) -> tuple[str, list[str]]:
    """Enrol over the API; the secret and the recovery codes."""
    started = client.post("/api/auth/2fa/")
    assert started.status_code == 201, started.content
    secret = started.json()["secret"]
    confirmed = client.post("/api/auth/2fa/confirm/", {"otp": code(secret)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    return secret, confirmed.json()["recovery_codes"]


def token(otp: str | None = None, username: str = "alice", password: str = PASSWORD, **extra: Any) -> Any:
    body = {"username": username, "password": password}
    if otp is not None:
        body["otp"] = otp
    return APIClient().post("/api/auth/token/", body, format="json", **extra)


@pytest.fixture
def enrolled(alice: Any, frozen: dict[str, float]) -> dict[str, Any]:
    secret, codes = enrol(client_for(alice))
    frozen["now"] += 30  # the confirming code's step is used up
    return {"secret": secret, "codes": codes}


# Enrolment over the API


def test_it_enrols_over_the_api_and_stores_only_digests_of_the_recovery_codes(alice_client, alice, frozen):
    assert alice_client.get("/api/auth/2fa/").json() == {"enabled": False, "recovery_codes_left": 0}
    started = alice_client.post("/api/auth/2fa/")
    assert started.status_code == 201
    secret, url = started.json()["secret"], started.json()["otpauth_url"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert (
        url.startswith("otpauth://totp/PulseGuard:alice?") and f"secret={secret}" in url and "issuer=PulseGuard" in url
    )
    factor = TwoFactor.objects.get(user=alice)
    assert factor.secret == secret and factor.confirmed_at is None
    assert token().status_code == 200, "an unconfirmed enrolment asks for nothing yet"

    wrong = alice_client.post("/api/auth/2fa/confirm/", {"otp": code(secret, 5)}, format="json")
    assert wrong.status_code == 400 and "otp" in wrong.json()
    confirmed = alice_client.post("/api/auth/2fa/confirm/", {"otp": code(secret)}, format="json")
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    factor.refresh_from_db()
    assert factor.confirmed_at is not None
    stored = set(RecoveryCode.objects.filter(user=alice).values_list("code_hash", flat=True))
    assert stored == {two_factor.digest(c) for c in codes}
    assert not stored & set(codes), "only SHA-256 digests are stored"
    assert alice_client.get("/api/auth/2fa/").json() == {"enabled": True, "recovery_codes_left": 10}


def test_a_restart_replaces_an_unconfirmed_secret_and_the_old_one_no_longer_confirms(alice_client, frozen):
    first = alice_client.post("/api/auth/2fa/").json()["secret"]
    second = alice_client.post("/api/auth/2fa/").json()["secret"]
    assert first != second
    assert alice_client.post("/api/auth/2fa/confirm/", {"otp": code(first)}, format="json").status_code == 400
    assert alice_client.post("/api/auth/2fa/confirm/", {"otp": code(second)}, format="json").status_code == 200


def test_it_refuses_to_restart_once_on_and_to_confirm_without_a_start(alice_client, enrolled):
    again = alice_client.post("/api/auth/2fa/")
    assert again.status_code == 400 and "turn it off first" in str(again.json())
    assert TwoFactor.objects.get().secret == enrolled["secret"]
    nothing = alice_client.post("/api/auth/2fa/confirm/", {"otp": "123456"}, format="json")
    assert nothing.status_code == 400 and "otp" in nothing.json()
    assert alice_client.post("/api/auth/2fa/confirm/", {}, format="json").status_code == 400


def test_it_turns_off_over_the_api_with_password_and_code(alice_client, enrolled):
    assert alice_client.delete(
        "/api/auth/2fa/", {"password": "nope", "otp": code(enrolled["secret"])}, format="json"
    ).json().keys() == {"password"}
    wrong = alice_client.delete("/api/auth/2fa/", {"password": PASSWORD, "otp": "000000"}, format="json")
    assert wrong.status_code == 400 and "otp" in wrong.json()
    done = alice_client.delete("/api/auth/2fa/", {"password": PASSWORD, "otp": code(enrolled["secret"])}, format="json")
    assert done.status_code == 204
    assert not TwoFactor.objects.exists() and not RecoveryCode.objects.exists()
    assert token().status_code == 200


# The token endpoint


def test_the_token_endpoint_needs_the_code_once_enrolled(enrolled):
    missing = token()
    assert missing.status_code == 401 and missing.json()["otp_required"] is True
    assert "otp" in missing.json()["detail"]
    wrong = token("000000")
    assert wrong.status_code == 401 and wrong.json()["otp_required"] is True
    right = token(code(enrolled["secret"]))
    assert right.status_code == 200 and right.json().keys() == {"access", "refresh"}


def test_a_wrong_password_does_not_tell_that_the_account_has_two_factor(enrolled):
    response = token(password="wrong", otp=code(enrolled["secret"]))
    assert response.status_code == 401 and "otp_required" not in response.json()


def test_a_code_is_accepted_once(enrolled):
    otp = code(enrolled["secret"])
    assert token(otp).status_code == 200
    replay = token(otp)
    assert replay.status_code == 401 and replay.json()["otp_required"] is True


def test_a_code_is_accepted_one_step_either_side_of_now_and_no_further(enrolled, frozen):
    secret = enrolled["secret"]
    frozen["now"] += 60  # two steps past the one that confirmed the enrolment
    # In the order of their steps: a step at or before the last one used is refused anyway.
    assert token(code(secret, -2)).status_code == 401
    assert token(code(secret, -1)).status_code == 200
    assert token(code(secret, 2)).status_code == 401
    assert token(code(secret, 1)).status_code == 200
    assert token(code(secret, 0)).status_code == 401, "older than the last step accepted"


def test_two_requests_racing_with_one_code_cannot_both_win(enrolled, alice):
    stale = TwoFactor.objects.get(user=alice)  # both read the row before either wrote it
    fresh = TwoFactor.objects.get(user=alice)
    step = two_factor.current_step()
    assert two_factor.use_step(fresh, step) is True
    assert two_factor.use_step(stale, step) is False


def test_a_recovery_code_works_once_wherever_a_code_does(enrolled, alice):
    first, second = enrolled["codes"][:2]
    assert token(first.upper().replace("-", " ")).status_code == 200, "case, spaces and dashes do not matter"
    assert token(first).status_code == 401
    client = Client()
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert client.post("/accounts/login/code/", {"otp": second}).status_code == 302
    assert client.get("/api/auth/me/").status_code == 200
    assert RecoveryCode.objects.filter(user=alice, used_at__isnull=False).count() == 2
    assert client_for(alice).get("/api/auth/2fa/").json()["recovery_codes_left"] == 8


@override_settings(OTP_THROTTLE_RATE="3/hour")
def test_wrong_codes_are_counted_per_user_from_any_address(enrolled):
    for n in range(3):
        assert token("000000", REMOTE_ADDR=f"127.0.0.{n + 10}").status_code == 401
    locked = token(code(enrolled["secret"]), REMOTE_ADDR="127.0.0.99")
    assert locked.status_code == 429, "even the right code, from a new address, until the window ends"
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    page = client.post("/accounts/login/code/", {"otp": code(enrolled["secret"])})
    assert page.status_code == 200 and "Too many wrong codes" in page.content.decode()
    assert "_auth_user_id" not in client.session


@override_settings(AUTH_THROTTLE_RATE="3/minute")
def test_the_login_throttle_counts_the_second_step_too(enrolled):
    client = Client()
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert [client.post("/accounts/login/code/", {"otp": "000000"}).status_code for _ in range(3)] == [200, 200, 429]


# The web login and the admin login


def test_the_web_login_asks_for_the_code_before_signing_in(enrolled):
    client = Client()
    first = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/maintenance/"})
    assert first.status_code == 302 and first["Location"] == "/accounts/login/code/"
    assert "_auth_user_id" not in client.session, "not signed in after the password alone"
    assert client.get("/api/auth/me/").status_code in (401, 403)
    assert client.get("/").status_code == 302
    page = client.get("/accounts/login/code/")
    assert page.status_code == 200 and "alice" in page.content.decode()
    wrong = client.post("/accounts/login/code/", {"otp": "000000"})
    assert wrong.status_code == 200 and "wrong" in wrong.content.decode()
    assert "_auth_user_id" not in client.session
    right = client.post("/accounts/login/code/", {"otp": code(enrolled["secret"])})
    assert right.status_code == 302 and right["Location"] == "/maintenance/"
    assert client.get("/api/auth/me/").json()["username"] == "alice"


def test_a_user_without_two_factor_signs_in_in_one_step(alice):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/api/auth/me/").status_code == 200


def test_the_code_step_without_the_password_step_goes_back_to_the_login(enrolled):
    client = Client()
    response = client.post("/accounts/login/code/", {"otp": code(enrolled["secret"])})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


def test_the_code_step_expires_and_dies_with_a_password_change(enrolled, alice, frozen):
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    alice.set_password("another-passphrase-9")
    alice.save()
    response = client.post("/accounts/login/code/", {"otp": code(enrolled["secret"])})
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    client.post("/accounts/login/", {"username": "alice", "password": "another-passphrase-9"})
    session = client.session
    session[two_factor_pending_key()]["at"] -= 301
    session.save()
    response = client.post("/accounts/login/code/", {"otp": code(enrolled["secret"])})
    assert response.status_code == 302 and "_auth_user_id" not in client.session


def two_factor_pending_key() -> str:
    from authentication.web_login import PENDING

    return PENDING


def test_the_admin_login_needs_the_code_too(bob, frozen):
    secret, _ = enrol(client_for(bob))
    frozen["now"] += 30
    client = Client()
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 200 and "Forgot password?" in page.content.decode()
    first = client.post("/admin/login/", {"username": "bob", "password": "bob-password-1", "next": "/admin/"})
    assert first.status_code == 302 and first["Location"] == "/accounts/login/code/"
    assert client.get("/admin/").status_code == 302, "not in the admin with the password alone"
    done = client.post("/accounts/login/code/", {"otp": code(secret)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/login/?next=/admin/auth/user/")["Location"] == "/admin/auth/user/"
    assert client.get("/admin/login/?next=https://evil.example.com/")["Location"] == "/admin/"


def test_the_admin_login_of_a_user_without_two_factor_still_works_and_admits_only_staff(bob, alice):
    client = Client()
    response = client.post("/admin/login/", {"username": "bob", "password": "bob-password-1"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    other = Client()
    other.post("/admin/login/", {"username": "alice", "password": PASSWORD, "next": "/admin/"})
    assert other.get("/admin/").status_code == 302
    page = other.get("/admin/login/?next=/admin/")
    assert "no access to the administration" in page.content.decode()


# Enrolment on the account page


def test_it_enrols_and_turns_off_on_the_account_page(alice, frozen):
    client = Client()
    client.force_login(alice)
    page = client.get("/accounts/").content.decode()
    assert "Set up two-factor sign-in" in page
    assert client.post("/accounts/", {"action": "start"})["Location"] == "/accounts/"
    factor = TwoFactor.objects.get(user=alice)
    page = client.get("/accounts/").content.decode()
    assert "<svg" in page and "<?xml" not in page
    assert factor.secret in page and "otpauth://totp/PulseGuard:alice?secret=" in page

    wrong = client.post("/accounts/", {"action": "confirm", "otp": "000000"})
    assert wrong.status_code == 400 and "That code is wrong" in wrong.content.decode()
    shown = client.post("/accounts/", {"action": "confirm", "otp": code(factor.secret)})
    assert shown.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]{11})</code></li>", shown.content.decode())
    assert len(codes) == 10
    assert set(RecoveryCode.objects.values_list("code_hash", flat=True)) == {two_factor.digest(c) for c in codes}
    again = client.get("/accounts/").content.decode()
    assert "10 of 10 recovery codes left" in again and not any(c in again for c in codes), "shown once"

    frozen["now"] += 30
    refused = client.post("/accounts/", {"action": "disable", "password": "wrong", "otp": code(factor.secret)})
    assert refused.status_code == 400 and TwoFactor.objects.exists()
    off = client.post("/accounts/", {"action": "disable", "password": PASSWORD, "otp": codes[0]})
    assert off["Location"] == "/accounts/" and not TwoFactor.objects.exists()


def test_every_page_links_to_the_account_page(alice):
    client = Client()
    client.force_login(alice)
    for path in ("/", "/maintenance/", "/accounts/"):
        page = client.get(path).content.decode()
        assert 'href="/accounts/"' in page and 'href="/accounts/password/change/"' in page, path


# A team's require_two_factor


@pytest.fixture
def strict_team(alice: Any, charlie: Any) -> Any:
    team = alice.personal_team
    team.require_two_factor = True
    team.save()
    Membership.objects.create(team=team, user=charlie, role=Role.MEMBER)
    return team


def test_a_team_that_requires_two_factor_refuses_members_without_it_until_they_enrol(
    strict_team, alice, charlie, charlie_client, frozen
):
    server = Server.objects.create(owner=alice, team=strict_team, name="db", host="db.example.com")
    own = Server.objects.create(owner=charlie, name="mine", host="mine.example.com")

    detail = charlie_client.get(f"/api/servers/{server.pk}/")
    assert detail.status_code == 403
    assert "requires two-factor sign-in" in detail.json()["detail"] and "/accounts/" in detail.json()["detail"]
    assert charlie_client.patch(f"/api/servers/{server.pk}/", {"name": "x"}, format="json").status_code == 403
    assert charlie_client.get(f"/api/servers/{server.pk}/history/").status_code == 403
    listed = charlie_client.get("/api/servers/")
    assert [s["id"] for s in listed.json()["results"]] == [own.pk], "the team's objects are left out"
    filtered = charlie_client.get(f"/api/servers/?team={strict_team.slug}")
    assert filtered.status_code == 403 and "two-factor" in filtered.json()["detail"]
    create = charlie_client.post(
        "/api/servers/", {"name": "new", "host": "n.example.com", "team": strict_team.slug}, format="json"
    )
    assert create.status_code == 403 and "two-factor" in create.json()["detail"]
    assert Server.objects.filter(name="new").count() == 0

    # What hangs off the team's servers too (a lookup through the server).
    config = NotificationConfig.objects.create_for(server, notification_type="email", recipient="o@example.com")
    assert charlie_client.get(f"/api/notification-configs/{config.pk}/").status_code == 403
    assert charlie_client.get("/api/notification-configs/").json()["results"] == []

    web = Client()
    web.force_login(charlie)
    assert (
        f"<strong>{strict_team.name}</strong>\n      requires two-factor sign-in"
        in web.get("/accounts/").content.decode()
    )

    enrol(charlie_client)
    assert 'id="required-by"' not in web.get("/accounts/").content.decode()
    fresh = client_for(charlie)
    assert fresh.get(f"/api/servers/{server.pk}/").status_code == 200
    assert fresh.get(f"/api/notification-configs/{config.pk}/").status_code == 200
    assert {s["id"] for s in fresh.get("/api/servers/").json()["results"]} == {server.pk, own.pk}
    assert fresh.get(f"/api/servers/?team={strict_team.slug}").status_code == 200


def test_the_requirement_spares_the_enrolled_staff_and_other_teams(strict_team, alice, bob, charlie, frozen):
    server = Server.objects.create(owner=alice, team=strict_team, name="db", host="db.example.com")
    # alice, the owner, has no two-factor either: refused like any member.
    assert client_for(alice).get(f"/api/servers/{server.pk}/").status_code == 403
    # Staff are the installation's operators, not the team's members (teams.two_factor_exempt).
    assert client_for(bob).get(f"/api/servers/{server.pk}/").status_code == 200
    # Another team of charlie's is untouched.
    own = Server.objects.create(owner=charlie, name="mine", host="mine.example.com")
    assert client_for(charlie).get(f"/api/servers/{own.pk}/").status_code == 200


def test_live_feeds_leave_out_a_team_that_requires_two_factor_until_the_member_enrols(strict_team, charlie, frozen):
    from authentication.credentials import read_state

    def feed_teams() -> frozenset[int]:
        return read_state({charlie.pk}, set()).users[str(charlie.pk)].pinned_team_ids

    assert feed_teams() == {charlie.personal_team.pk}
    enrol(client_for(charlie))
    # The gate compares the teams at each re-read: the open feed reconnects into the new scope.
    assert feed_teams() == {charlie.personal_team.pk, strict_team.pk}


def test_a_key_of_the_team_is_exempt_and_may_not_enrol(strict_team, alice):
    from authentication import keys

    server = Server.objects.create(owner=alice, team=strict_team, name="db", host="db.example.com")
    _, raw = keys.create(strict_team, "ci", "write", alice)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(f"/api/servers/{server.pk}/").status_code == 200
    assert [s["id"] for s in client.get("/api/servers/").json()["results"]] == [server.pk]
    assert client.post("/api/auth/2fa/").status_code == 403
    assert not TwoFactor.objects.exists()


def test_two_factor_missing_answers_per_principal_and_team(strict_team, alice, charlie, bob, frozen):
    from authentication.teams import forget_roles, two_factor_missing

    class Key:  # an API key acting as the team (authentication.keys, another engineer's)
        api_key = object()
        is_authenticated, is_staff, pk = True, False, None

    assert two_factor_missing(charlie, strict_team.pk) is True
    assert two_factor_missing(charlie, charlie.personal_team.pk) is False
    assert two_factor_missing(charlie, None) is False
    assert two_factor_missing(bob, strict_team.pk) is False
    assert two_factor_missing(Key(), strict_team.pk) is False
    enrol(client_for(charlie))
    assert two_factor_missing(charlie, strict_team.pk) is True, "remembered for the request"
    forget_roles(charlie)
    assert two_factor_missing(charlie, strict_team.pk) is False


def test_staff_switch_off_a_lost_phones_two_factor_in_the_admin_without_seeing_the_secret(enrolled, alice, bob):
    bob.is_superuser = True
    bob.save()
    client = Client()
    client.force_login(bob)
    factor = TwoFactor.objects.get(user=alice)
    page = client.get(f"/admin/authentication/twofactor/{factor.pk}/change/")
    assert page.status_code == 200 and enrolled["secret"] not in page.content.decode()
    assert client.get("/admin/authentication/twofactor/add/").status_code == 403
    response = client.post(f"/admin/authentication/twofactor/{factor.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not TwoFactor.objects.exists()
    assert token().status_code == 200


def test_the_web_pages_refuse_a_team_that_requires_two_factor_until_the_member_enrols(
    strict_team, alice, charlie, frozen
):
    server = Server.objects.create(owner=alice, team=strict_team, name="strict-db", host="db.example.com")
    Server.objects.create(owner=charlie, name="charlies-own", host="mine.example.com")
    web = Client()
    web.force_login(charlie)
    dashboard = web.get("/").content.decode()
    assert "charlies-own" in dashboard and "strict-db" not in dashboard
    for path in (f"/servers/{server.pk}/", f"/servers/{server.pk}/edit/"):
        page = web.get(path)
        assert page.status_code == 403 and 'href="/accounts/"' in page.content.decode(), path
    enrol(client_for(charlie))
    assert "strict-db" in web.get("/").content.decode()
    assert web.get(f"/servers/{server.pk}/").status_code == 200
