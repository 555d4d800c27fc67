"""Invitations (SPEC §17): sent by e-mail with a one-time link, listed, revoked and accepted."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from authentication.models import Invitation, Membership, Team
from authentication.tests.team_helpers import Crew, audit_rows, crew_fixture  # noqa: F401 (the crew fixture)
from conftest import client_for

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/invitations/([A-Za-z0-9_-]+)/")


def invite(crew: Crew, who: str = "owner", email: str = "new@example.com", role: str = "member"):
    return crew.client(who).post("/api/teams/ops/invitations/", {"email": email, "role": role}, format="json")


def token_of(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


@override_settings(PUBLIC_URL="https://pulse.example.com", INVITATION_VALID_DAYS=7)
def test_an_invitation_sends_an_email_with_a_one_time_link(crew: Crew):
    response = invite(crew, role="admin")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new@example.com" and body["role"] == "admin" and body["invited_by"] == "alice"
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    assert "Operations" in message.subject
    token = token_of(message)
    assert f"https://pulse.example.com/invitations/{token}/" in message.body
    invitation = Invitation.objects.get()
    # Only the token's digest is stored.
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())
    assert timedelta(days=6, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    [row] = audit_rows("invitation_create", team=crew.team)
    assert row.object_name == "new@example.com" and row.changes == {"role": [None, "admin"]}


@override_settings(PUBLIC_URL="", INVITATION_VALID_DAYS=2)
def test_without_public_url_the_link_uses_the_requests_host_and_the_days_setting(crew: Crew):
    assert invite(crew).status_code == 201
    assert "http://testserver/invitations/" in mail.outbox[0].body
    assert "2 days" in mail.outbox[0].body
    left = Invitation.objects.get().expires_at - timezone.now()
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 201), ("admin", 201), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 201)],
)
def test_inviting_is_for_admins_and_owners(crew: Crew, who: str, code: int):
    response = invite(crew, who)
    assert response.status_code == code, response.content
    assert Invitation.objects.exists() is (code == 201)
    assert len(mail.outbox) == (1 if code == 201 else 0)


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 201), ("admin", 403), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 201)],
)
def test_only_owners_invite_owners(crew: Crew, who: str, code: int):
    response = invite(crew, who, role="owner")
    assert response.status_code == code, response.content
    assert Invitation.objects.exists() is (code == 201)


def test_inviting_an_existing_member_answers_400_naming_email(crew: Crew):
    response = invite(crew, email="MEL@example.com")
    assert response.status_code == 400
    assert "already a member" in response.json()["email"][0]
    assert not Invitation.objects.exists() and not mail.outbox


@pytest.mark.parametrize(
    ("field", "body"),
    [("email", {"email": "not-an-address"}), ("role", {"email": "a@b.example", "role": "boss"}), ("email", {})],
)
def test_bad_input_answers_400_naming_the_field(crew: Crew, field: str, body: dict):
    response = crew.client("owner").post("/api/teams/ops/invitations/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_a_new_invitation_replaces_a_pending_one_to_the_same_address(crew: Crew):
    invite(crew)
    invite(crew, email="New@Example.com", role="viewer")
    assert list(Invitation.objects.values_list("role", flat=True)) == ["viewer"]


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 200)],
)
def test_the_pending_invitations_are_listed_for_admins_and_owners(crew: Crew, who: str, code: int):
    invite(crew, email="one@example.com")
    invite(crew, email="two@example.com")
    Invitation.objects.filter(email="two@example.com").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = crew.client(who).get("/api/teams/ops/invitations/")
    assert response.status_code == code, response.content
    if code == 200:
        assert [i["email"] for i in response.json()["results"]] == ["one@example.com"]


@pytest.mark.parametrize(
    ("who", "code"),
    [("owner", 204), ("admin", 204), ("member", 403), ("viewer", 403), ("stranger", 404), ("staff", 204)],
)
def test_revoking_is_for_admins_and_owners(crew: Crew, who: str, code: int):
    invite(crew)
    token = token_of(mail.outbox[0])
    pk = Invitation.objects.get().pk
    response = crew.client(who).delete(f"/api/teams/ops/invitations/{pk}/")
    assert response.status_code == code, response.content
    assert Invitation.objects.exists() is (code != 204)
    if code == 204:
        [row] = audit_rows("delete", object_type="invitation")
        assert row.team_id == crew.team.pk
        newcomer = User.objects.create_user("newcomer", "new@example.com", "x-password-1")
        assert client_for(newcomer).post(f"/api/invitations/{token}/accept/").status_code == 404


def test_another_teams_invitation_cannot_be_revoked_through_ones_own_team(crew: Crew):
    invite(crew)
    pk = Invitation.objects.get().pk
    response = crew.client("stranger").delete(f"/api/teams/charlie/invitations/{pk}/")
    assert response.status_code == 404
    assert Invitation.objects.exists()


# --- accepting -----------------------------------------------------------------------------------


def sent_token(crew: Crew, email: str = "new@example.com", role: str = "member") -> str:
    mail.outbox.clear()
    assert invite(crew, email=email, role=role).status_code == 201
    return token_of(mail.outbox[0])


def test_the_invitee_accepts_and_joins_with_the_role(crew: Crew):
    token = sent_token(crew, role="admin")
    newcomer = User.objects.create_user("newcomer", "New@Example.com", "x-password-1")
    client = client_for(newcomer)
    assert client.get("/api/teams/ops/").status_code == 404
    response = client.post(f"/api/invitations/{token}/accept/")
    assert response.status_code == 200, response.content
    assert response.json()["slug"] == "ops" and response.json()["role"] == "admin"
    assert Membership.objects.get(team=crew.team, user=newcomer).role == "admin"
    invitation = Invitation.objects.get()
    assert invitation.accepted_at is not None and invitation.accepted_by == newcomer
    assert client.get("/api/teams/ops/").status_code == 200
    [accepted] = audit_rows("invitation_accept", team=crew.team)
    assert accepted.actor_id == newcomer.pk
    [added] = audit_rows("member_add", team=crew.team)
    assert added.object_name == "newcomer" and added.changes == {"role": [None, "admin"]}


def test_a_used_invitation_answers_410(crew: Crew):
    token = sent_token(crew)
    newcomer = User.objects.create_user("newcomer", "new@example.com", "x-password-1")
    assert client_for(newcomer).post(f"/api/invitations/{token}/accept/").status_code == 200
    again = client_for(newcomer).post(f"/api/invitations/{token}/accept/")
    assert again.status_code == 410
    assert "already used" in again.json()["detail"]
    assert Membership.objects.filter(team=crew.team, user=newcomer).count() == 1


def test_an_expired_invitation_answers_410(crew: Crew):
    token = sent_token(crew)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    newcomer = User.objects.create_user("newcomer", "new@example.com", "x-password-1")
    response = client_for(newcomer).post(f"/api/invitations/{token}/accept/")
    assert response.status_code == 410
    assert "expired" in response.json()["detail"]
    assert not Membership.objects.filter(team=crew.team, user=newcomer).exists()


def test_another_address_answers_403(crew: Crew):
    token = sent_token(crew)
    response = crew.client("stranger").post(f"/api/invitations/{token}/accept/")
    assert response.status_code == 403
    assert "new@example.com" in response.json()["detail"]
    assert not Membership.objects.filter(team=crew.team, user=crew.users["stranger"]).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_unknown_token_answers_404_and_anonymous_401(crew: Crew, anon_client):
    token = sent_token(crew)
    assert anon_client.post(f"/api/invitations/{token}/accept/").status_code == 401
    newcomer = User.objects.create_user("newcomer", "new@example.com", "x-password-1")
    assert client_for(newcomer).post("/api/invitations/not-a-token/accept/").status_code == 404
    assert Invitation.objects.get().accepted_at is None


def test_a_member_who_accepts_keeps_their_role(crew: Crew):
    token = sent_token(crew)
    # The viewer changed their address to the invited one after the invitation was sent.
    User.objects.filter(pk=crew.users["viewer"].pk).update(email="new@example.com")
    response = crew.client("viewer").post(f"/api/invitations/{token}/accept/")
    assert response.status_code == 200
    assert crew.role("viewer") == "viewer"
    assert not audit_rows("member_add")


def test_an_invitation_whose_email_cannot_be_sent_answers_400_and_is_not_kept(crew: Crew, tcp_closed_port: int):
    backend = "django.core.mail.backends.smtp.EmailBackend"
    with override_settings(EMAIL_BACKEND=backend, EMAIL_HOST="127.0.0.1", EMAIL_PORT=tcp_closed_port, EMAIL_TIMEOUT=2):
        response = invite(crew)
    assert response.status_code == 400
    assert "could not be sent" in response.json()["email"][0]
    assert not Invitation.objects.exists()
    assert not audit_rows("invitation_create")


def test_the_email_reaches_a_real_smtp_server(crew: Crew, smtp_server):
    assert invite(crew).status_code == 201
    [message] = smtp_server.messages
    assert message["To"] == "new@example.com"
    assert "/invitations/" in message.get_payload()


def test_a_team_name_with_a_line_break_still_makes_one_subject_line(crew: Crew):
    Team.objects.filter(pk=crew.team.pk).update(name="Ops\r\nBcc: someone@example.com")
    assert invite(crew).status_code == 201
    [message] = mail.outbox
    assert message.subject == "You are invited to the team Ops Bcc: someone@example.com on PulseGuard"
    assert message.bcc == []
