"""Single sign-on with OpenID Connect (SPEC §17), end to end against tests/oidc_provider.py.

The test client starts at /accounts/oidc/login/, the provider's /authorize is followed with
requests (it answers at once with a redirect back), and the callback is fetched by the client
again: the real flow, with discovery, PKCE, the token exchange, the RS256 id_token and userinfo.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import Client, override_settings

from authentication.claims import wanted_roles
from authentication.models import AuditEntry, Membership, OidcIdentity, Role, Team
from authentication.oidc import forget_discovery
from authentication.teams import personal_team
from tests.oidc_provider import OidcProvider

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    forget_discovery()
    with OidcProvider() as p, override_settings(**p.env()):
        yield p
    forget_discovery()


def start(client: Client, provider: OidcProvider, next_url: str = "") -> str:
    """The login button's request and the provider's answer: the callback URL to go back to."""
    response = client.get("/accounts/oidc/login/" + (f"?{urlencode({'next': next_url})}" if next_url else ""))
    assert response.status_code == 302
    assert response["Location"].startswith(f"{provider.issuer}/authorize?")
    back = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302
    url = urlsplit(back.headers["Location"])
    assert (url.scheme, url.netloc, url.path) == ("http", "testserver", "/accounts/oidc/callback/")
    return f"{url.path}?{url.query}"


def sign_in(client: Client, provider: OidcProvider, next_url: str = "") -> object:
    return client.get(start(client, provider, next_url))


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def login_page_text(client: Client) -> str:
    return client.get("/accounts/login/").content.decode()


# --- Off unless configured.


def test_without_the_settings_there_is_no_button_and_the_urls_answer_404(db):
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert Client().get("/accounts/oidc/login/").status_code == 404
    assert Client().get("/accounts/oidc/callback/?code=x&state=y").status_code == 404


def test_the_login_page_shows_the_button_named_by_oidc_display_name(provider):
    page = Client().get("/accounts/login/?next=/servers/new/").content.decode()
    assert "Sign in with single sign-on" in page
    assert 'href="/accounts/oidc/login/?next=/servers/new/"' in page
    with override_settings(OIDC_DISPLAY_NAME="Acme Keycloak"):
        assert "Sign in with Acme Keycloak" in Client().get("/accounts/login/").content.decode()


def test_nothing_asks_the_provider_anything_until_someone_signs_in(provider):
    Client().get("/accounts/login/")
    assert provider.requests == []
    Client().get("/accounts/oidc/login/")
    assert provider.requests == ["GET /.well-known/openid-configuration"]


def test_start_up_with_sso_configured_makes_no_network_call():
    with OidcProvider() as p:
        code = (
            "import django; django.setup(); import core.urls; from django.test import Client; "
            "assert b'Sign in with' in Client().get('/accounts/login/').content"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
        env.update(p.env(DJANGO_SETTINGS_MODULE="core.settings.development", ALLOWED_HOSTS="testserver"))
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert p.requests == []


@pytest.mark.parametrize("missing", ["OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"])
def test_a_partial_configuration_stops_start_up_naming_what_is_missing(missing):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env.update({"OIDC_ISSUER": "https://idp.example.com/realms/ops", "OIDC_CLIENT_ID": "pg", "OIDC_CLIENT_SECRET": "s"})
    del env[missing]
    env["DJANGO_SETTINGS_MODULE"] = "core.settings.development"
    code = "import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{missing} missing" in result.stderr


# --- Who signs in.


def test_a_first_sign_in_creates_the_user_its_identity_and_personal_team(provider):
    provider.claims = {
        "sub": "abc-123",
        "email": "dana@example.com",
        "email_verified": True,
        "preferred_username": "dana",
        "given_name": "Dana",
    }
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == 302 and response["Location"] == "/"
    user = signed_in_user(client)
    assert user is not None
    assert (user.username, user.email, user.first_name) == ("dana", "dana@example.com", "Dana")
    assert not user.has_usable_password()
    assert OidcIdentity.objects.filter(user=user, issuer=provider.issuer, sub="abc-123").exists()
    assert personal_team(user).memberships.get().role == Role.OWNER
    assert client.get("/").status_code == 200
    assert client.session["sso_issuer"] == provider.issuer
    # The flow was the real one: PKCE verifier, the code exchanged with the secret, keys and userinfo read.
    assert "POST /token" in provider.requests and "GET /jwks" in provider.requests
    assert "GET /userinfo" in provider.requests


def test_a_second_sign_in_is_the_same_user_matched_by_issuer_and_sub(provider):
    provider.claims = {"sub": "abc-123", "email": "dana@example.com", "preferred_username": "dana"}
    sign_in(Client(), provider)
    provider.claims = {"sub": "abc-123", "email": "dana.new@example.com", "preferred_username": "dana2"}
    client = Client()
    sign_in(client, provider)
    assert signed_in_user(client).username == "dana"
    assert User.objects.filter(username__startswith="dana").count() == 1
    assert OidcIdentity.objects.count() == 1
    # Discovery is read once, not at every sign-in.
    assert provider.requests.count("GET /.well-known/openid-configuration") == 1


def test_the_same_sub_from_another_issuer_is_another_user(provider):
    provider.claims = {"sub": "same", "preferred_username": "first"}
    sign_in(Client(), provider)
    with OidcProvider() as other, override_settings(**other.env()):
        other.claims = {"sub": "same", "preferred_username": "second"}
        client = Client()
        sign_in(client, other)
        assert signed_in_user(client).username == "second"
    assert OidcIdentity.objects.count() == 2


def test_a_username_already_taken_gets_a_suffix(provider, alice):
    provider.claims = {"sub": "x", "preferred_username": "alice", "email": "other-alice@example.com"}
    client = Client()
    sign_in(client, provider)
    assert signed_in_user(client).username == "alice-2"


def test_next_is_where_the_user_lands(provider):
    response = sign_in(Client(), provider, next_url="/servers/new/")
    assert response["Location"] == "/servers/new/"


def test_a_next_on_another_site_is_not_followed(provider):
    response = sign_in(Client(), provider, next_url="https://elsewhere.example.com/")
    assert response["Location"] == "/"


def test_an_e_mail_of_an_existing_user_is_refused_with_a_message(provider, alice):
    provider.claims = {"sub": "intruder", "email": "ALICE@example.com", "email_verified": True}
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None
    assert "An account with the e-mail ALICE@example.com already exists" in login_page_text(client)
    assert not OidcIdentity.objects.exists()
    assert User.objects.count() == 1


def test_with_oidc_link_by_email_a_verified_e_mail_signs_in_as_that_user(provider, alice):
    provider.claims = {"sub": "alice-at-idp", "email": "alice@example.com", "email_verified": True}
    with override_settings(OIDC_LINK_BY_EMAIL=True):
        client = Client()
        sign_in(client, provider)
    assert signed_in_user(client) == alice
    assert OidcIdentity.objects.get(issuer=provider.issuer, sub="alice-at-idp").user == alice
    alice.refresh_from_db()
    assert alice.has_usable_password()  # the password still works too
    # Later sign-ins match the identity, flag or not.
    client = Client()
    sign_in(client, provider)
    assert signed_in_user(client) == alice


@pytest.mark.parametrize("verified", [False, "false", None])
def test_with_oidc_link_by_email_an_unverified_e_mail_is_refused(provider, alice, verified):
    provider.claims = {"sub": "alice-at-idp", "email": "alice@example.com"}
    if verified is not None:
        provider.claims["email_verified"] = verified
    with override_settings(OIDC_LINK_BY_EMAIL=True):
        client = Client()
        sign_in(client, provider)
    assert signed_in_user(client) is None
    assert "has not verified that this e-mail is yours" in login_page_text(client)
    assert not OidcIdentity.objects.exists()


def test_a_disabled_user_cannot_sign_in(provider):
    provider.claims = {"sub": "gone", "preferred_username": "gone"}
    sign_in(Client(), provider)
    User.objects.filter(username="gone").update(is_active=False)
    client = Client()
    sign_in(client, provider)
    assert signed_in_user(client) is None
    assert "This account is disabled." in login_page_text(client)


def test_passwords_still_work_and_the_sso_backend_ignores_them(provider, alice, rf):
    request = rf.post("/accounts/login/?code=x&state=y")
    request.session = {}
    assert authenticate(request, username="alice", password="alice-password-1") == alice
    assert authenticate(request, username="alice", password="wrong") is None
    assert not [r for r in provider.requests if r.startswith("POST")]


# --- What the client refuses.


@pytest.mark.parametrize(
    "overrides",
    [{"aud": "another-client"}, {"iss": "http://127.0.0.1:1"}, {"exp": 1_000_000_000}, {"nonce": "replayed"}],
    ids=["audience", "issuer", "expired", "nonce"],
)
def test_an_id_token_that_does_not_verify_signs_nobody_in(provider, overrides):
    provider.token_overrides = overrides
    client = Client()
    response = sign_in(client, provider)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None
    assert "Single sign-on did not complete" in login_page_text(client)
    assert not User.objects.exists()


def test_a_callback_with_a_state_this_browser_did_not_start_is_refused_not_a_500(provider):
    callback = start(Client(), provider)
    other = Client()
    other.get("/accounts/oidc/login/")  # a session with a state of its own
    response = other.get(callback)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_user(other) is None
    assert Client().get("/accounts/oidc/callback/?code=a&state=b").status_code == 302


def test_the_provider_answering_an_error_ends_on_the_login_page(provider):
    client = Client()
    client.get("/accounts/oidc/login/")
    response = client.get("/accounts/oidc/callback/?error=access_denied&state=whatever")
    assert response["Location"] == "/accounts/login/"
    assert "Single sign-on did not complete" in login_page_text(client)


def test_an_unreachable_provider_ends_on_the_login_page_with_a_message(db):
    forget_discovery()
    with override_settings(OIDC_ISSUER="http://127.0.0.1:9", OIDC_CLIENT_ID="c", OIDC_CLIENT_SECRET="s"):
        client = Client()
        response = client.get("/accounts/oidc/login/")
        assert response.status_code == 302 and response["Location"] == "/accounts/login/"
        assert "could not be reached" in login_page_text(client)


def test_a_discovery_document_naming_another_issuer_is_not_used(provider):
    with override_settings(OIDC_ISSUER=provider.issuer + "/realms/other"):
        client = Client()
        response = client.get("/accounts/oidc/login/")
        assert response["Location"] == "/accounts/login/"


# --- Teams from the claim.


@pytest.fixture
def teams(db) -> dict[str, Team]:
    return {slug: Team.objects.create(name=slug.title(), slug=slug) for slug in ("ops", "web", "db")}


def claim_sign_in(provider: OidcProvider, groups: object) -> User:
    provider.claims = {"sub": "tm", "preferred_username": "tm", "groups": groups}
    with override_settings(OIDC_TEAMS_CLAIM="groups"):
        client = Client()
        sign_in(client, provider)
    user = signed_in_user(client)
    assert user is not None
    return user


def roles_of(user: User) -> dict[str, tuple[str, bool]]:
    return {m.team.slug: (m.role, m.from_claim) for m in Membership.objects.filter(user=user).select_related("team")}


def test_the_teams_claim_adds_memberships_marked_as_from_the_claim(provider, teams):
    user = claim_sign_in(provider, ["ops:admin", "web:viewer"])
    assert roles_of(user) == {"tm": ("owner", False), "ops": ("admin", True), "web": ("viewer", True)}
    adds = AuditEntry.objects.filter(action="member_add").order_by("team__slug")
    assert [(a.team.slug, a.actor_id, a.object_name, a.changes) for a in adds] == [
        ("ops", user.pk, "tm", {"role": [None, "admin"]}),
        ("web", user.pk, "tm", {"role": [None, "viewer"]}),
    ]


def test_the_teams_claim_changes_roles_and_removes_only_what_a_claim_made(provider, teams, alice):
    user = claim_sign_in(provider, ["ops:admin", "web:viewer"])
    Membership.objects.create(team=teams["db"], user=user, role=Role.MEMBER)  # an invitation, say
    Membership.objects.create(team=teams["ops"], user=alice, role=Role.OWNER)
    claim_sign_in(provider, ["ops:member"])
    assert roles_of(user) == {"tm": ("owner", False), "ops": ("member", True), "db": ("member", False)}
    assert AuditEntry.objects.get(action="member_role").changes == {"role": ["admin", "member"]}
    assert AuditEntry.objects.get(action="member_remove").team == teams["web"]
    # A membership made by hand is neither changed nor removed by the claim.
    claim_sign_in(provider, ["db:viewer"])
    assert roles_of(user) == {"tm": ("owner", False), "db": ("member", False)}


def test_the_teams_claim_ignores_unknown_teams_roles_and_personal_teams(provider, teams, alice):
    user = claim_sign_in(provider, ["nope:admin", "ops:boss", "alice:owner", "tm:viewer", 42, "web", "/db:member"])
    # "/db:member": Keycloak's full group path is understood.
    assert roles_of(user) == {"tm": ("owner", False), "db": ("member", True)}
    assert Membership.objects.filter(team=personal_team(alice)).count() == 1


def test_the_teams_claim_never_removes_or_demotes_the_last_owner(provider, teams):
    user = claim_sign_in(provider, ["ops:owner", "web:owner"])
    claim_sign_in(provider, ["web:viewer"])
    assert roles_of(user) == {"tm": ("owner", False), "ops": ("owner", True), "web": ("owner", True)}
    # With another owner there, the claim has its way.
    other = User.objects.create_user("other")
    Membership.objects.create(team=teams["ops"], user=other, role=Role.OWNER)
    Membership.objects.create(team=teams["web"], user=other, role=Role.OWNER)
    claim_sign_in(provider, ["web:viewer"])
    assert roles_of(user) == {"tm": ("owner", False), "web": ("viewer", True)}


def test_an_absent_teams_claim_removes_the_memberships_a_claim_made(provider, teams):
    user = claim_sign_in(provider, ["ops:member"])
    provider.claims = {"sub": "tm"}
    with override_settings(OIDC_TEAMS_CLAIM="groups"):
        sign_in(Client(), provider)
    assert roles_of(user) == {"tm": ("owner", False)}


def test_without_oidc_teams_claim_the_groups_are_not_read(provider, teams):
    provider.claims = {"sub": "tm", "preferred_username": "tm", "groups": ["ops:admin"]}
    client = Client()
    sign_in(client, provider)
    assert roles_of(signed_in_user(client)) == {"tm": ("owner", False)}


def test_claim_values_read_as_slug_and_role_the_higher_role_winning():
    assert wanted_roles(["ops:viewer", "ops:admin", "OPS:member", "web: owner "]) == {"ops": "admin", "web": "owner"}
    assert wanted_roles("ops:member") == {"ops": "member"}
    assert wanted_roles({"ops": "admin"}) == {}
    assert wanted_roles(None) == {}
    assert wanted_roles(["a:b:member"]) == {"a:b": "member"}
