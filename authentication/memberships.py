"""Managing a team (SPEC §17): the team itself, its members and its invitations.

The one place these rules live; the API (``api.teams``) and the web pages
(``authentication.web_teams``) both call these functions and show what ``Refused`` says.
Every change is written with its audit row in one transaction (``authentication.audit``).

Who may:
- rename a team or change its slug: admins and owners;
- ``require_two_factor``: owners only, and only an owner enrolled in two-factor may turn it on;
- delete a team: owners only, never a personal team;
- change a member's role or remove a member: admins and owners; anything touching the
  ``owner`` role (granting, changing or removing an owner): owners only; a member may leave;
- invite: admins and owners (an ``owner`` invitation: owners only);
- the last owner can neither leave nor be demoted.
Staff may do everything a team's owner may (``teams.may``).
"""

from __future__ import annotations

import hashlib
import secrets
import smtplib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from authentication import audit, teams
from authentication.models import AuditEntry, Invitation, Membership, Role, Team, TwoFactor
from core.links import absolute_url
from monitoring.models import Server
from monitoring.services.engine.checks import delete_servers

Action = AuditEntry.Action


class Refused(Exception):
    """Why a change is not made: ``status`` 400 (``field`` names the bad field), 403, 404 or 410."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def require_role(principal: Any, team: Team, role: str, doing: str) -> None:
    if not teams.may(principal, team.pk, role):
        mine = teams.role_in(principal, team.pk) or "none"
        raise Refused(f"{doing} needs the {role} role in the team; yours is {mine}.", status=403)


def _person(principal: Any, doing: str) -> Any:
    """The user behind ``principal``: an API key acts for its team, never as a person."""
    if getattr(principal, "api_key", None) is not None or not getattr(principal, "pk", None):
        raise Refused(f"{doing} needs a signed-in user, not an API key.", status=403)
    return principal


def role_from(value: Any) -> str:
    """``value`` as a role, else 400 naming ``role``."""
    if value not in Role.values:
        raise Refused(f"Unknown role {str(value)[:20]!r}: use one of {', '.join(Role.values)}.", field="role")
    return str(value)


def _enrolled(principal: Any) -> bool:
    """Whether ``principal`` signs in with two-factor (a confirmed TOTP enrolment)."""
    return TwoFactor.objects.filter(user_id=getattr(principal, "pk", None), confirmed_at__isnull=False).exists()


def _owners(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


def _saved(save: Callable[[], Any], slug: str) -> Any:
    """``save()``; a slug another request took a moment ago is the same 400 as one taken before."""
    try:
        with transaction.atomic():
            return save()
    except IntegrityError as exc:
        raise Refused(f"The slug {slug!r} is taken; choose another.", field="slug") from exc


# --- the team ---------------------------------------------------------------------------------


def create_team(request: Any, name: str, slug: str) -> Team:
    """A new team, with its creator as its owner."""
    user = _person(request.user, "Creating a team")
    if Team.objects.filter(slug=slug).exists():
        raise Refused(f"The slug {slug!r} is taken; choose another.", field="slug")
    with transaction.atomic():
        team = _saved(lambda: Team.objects.create(name=name, slug=slug), slug)
        membership = Membership.objects.create(team=team, user=user, role=Role.OWNER)
        audit.record(request, Action.CREATE, team_id=team.pk, obj=team, changes={"name": [None, name]})
        audit.record(
            request, Action.MEMBER_ADD, team_id=team.pk, obj=membership, object_name=user.get_username(),
            changes={"role": [None, Role.OWNER]},
        )  # fmt: skip
    teams.forget_roles(request.user)
    return team


def update_team(request: Any, team: Team, changes: dict[str, Any]) -> Team:
    """Change ``name``, ``slug`` and ``require_two_factor`` (only those that differ are written)."""
    changes = {k: v for k, v in changes.items() if getattr(team, k) != v}
    if not changes:
        return team
    if "require_two_factor" in changes:
        require_role(request.user, team, Role.OWNER, "Changing require_two_factor")
        if changes["require_two_factor"] and not _enrolled(request.user):
            raise Refused(
                "Turn on two-factor sign-in for your own account before requiring it of the team.",
                field="require_two_factor",
            )
    if changes.keys() - {"require_two_factor"}:
        require_role(request.user, team, Role.ADMIN, "Renaming the team")
    if "slug" in changes and Team.objects.filter(slug=changes["slug"]).exclude(pk=team.pk).exists():
        raise Refused(f"The slug {changes['slug']!r} is taken; choose another.", field="slug")
    with transaction.atomic():
        diff = {k: [getattr(team, k), v] for k, v in changes.items()}
        for k, v in changes.items():
            setattr(team, k, v)
        _saved(lambda: team.save(update_fields=list(changes)), team.slug)
        audit.record(request, Action.UPDATE, team_id=team.pk, obj=team, changes=diff)
    return team


def delete_team(request: Any, team: Team) -> None:
    """Delete the team and everything of it; a personal team stays (its user's home)."""
    require_role(request.user, team, Role.OWNER, "Deleting the team")
    if team.personal_for_id is not None:
        raise Refused("A personal team cannot be deleted; it goes when its user's account does.")
    # The servers first, locked as a running check locks them, so a check in flight neither
    # fails nor writes into a deleted server (as deleting an account does).
    with transaction.atomic():
        # The row goes with the team (AuditEntry.team cascades); keep it outside the team.
        audit.record(request, Action.DELETE, team_id=None, obj=team)
        delete_servers(Server.objects.filter(team=team))
        team.delete()


# --- members ----------------------------------------------------------------------------------


def change_role(request: Any, membership: Membership, role: Any) -> Membership:
    team = membership.team
    new = role_from(role)
    old = membership.role
    require_role(request.user, team, Role.ADMIN, "Changing a member's role")
    if Role.OWNER in (old, new):
        require_role(request.user, team, Role.OWNER, "Granting, changing or removing the owner role")
    if new == old:
        return membership
    if old == Role.OWNER and _owners(team) <= 1:
        raise Refused("The last owner cannot be demoted: make another member owner first.", field="role")
    with transaction.atomic():
        membership.role = new
        membership.save(update_fields=["role"])
        audit.record(
            request, Action.MEMBER_ROLE, team_id=team.pk, obj=membership,
            object_name=membership.user.get_username(), changes={"role": [old, new]},
        )  # fmt: skip
    return membership


def remove_member(request: Any, membership: Membership) -> None:
    """Remove a member (admins and owners; an owner only by owners), or leave (any member)."""
    team = membership.team
    leaving = membership.user_id == getattr(request.user, "pk", None) and getattr(request.user, "api_key", None) is None
    if not leaving:
        require_role(request.user, team, Role.ADMIN, "Removing a member")
        if membership.role == Role.OWNER:
            require_role(request.user, team, Role.OWNER, "Granting, changing or removing the owner role")
    if membership.role == Role.OWNER and _owners(team) <= 1:
        raise Refused("The last owner cannot leave: make another member owner first.", field="role")
    with transaction.atomic():
        audit.record(
            request, Action.MEMBER_REMOVE, team_id=team.pk, obj=membership,
            object_name=membership.user.get_username(), changes={"role": [membership.role, None]},
        )  # fmt: skip
        membership.delete()
    teams.forget_roles(request.user)


# --- invitations ------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_path(token: str) -> str:
    return f"/invitations/{token}/"


def invite(request: Any, team: Team, email: str, role: Any) -> Invitation:
    """Store an invitation (its token's hash only) and e-mail the link; a newer one replaces an
    older pending invitation of the same address."""
    new = role_from(role)
    require_role(request.user, team, Role.ADMIN, "Inviting")
    if new == Role.OWNER:
        require_role(request.user, team, Role.OWNER, "Granting, changing or removing the owner role")
    if Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise Refused(f"{email} is already a member of this team.", field="email")
    token = secrets.token_urlsafe(32)
    inviter = request.user if getattr(request.user, "pk", None) else None
    with transaction.atomic():
        pending(team).filter(email__iexact=email).delete()
        invitation = Invitation.objects.create(
            team=team, email=email, role=new, token_hash=token_hash(token), invited_by=inviter
        )
        audit.record(
            request, Action.INVITATION_CREATE, team_id=team.pk, obj=invitation, object_name=email,
            changes={"role": [None, new]},
        )  # fmt: skip
        # Sent before the commit: an invitation no one could receive is not kept.
        try:
            _send(invitation, absolute_url(invitation_path(token), request), inviter)
        except (OSError, smtplib.SMTPException) as exc:
            raise Refused(f"The invitation e-mail could not be sent ({exc}); try again later.", field="email") from exc
    return invitation


def _send(invitation: Invitation, link: str, inviter: Any) -> None:
    context = {
        "invitation": invitation,
        "team": invitation.team,
        "link": link,
        "inviter": inviter.get_username() if inviter is not None else "",
        "days": settings.INVITATION_VALID_DAYS,
    }
    name = " ".join(invitation.team.name.split())  # a line break in a name would be a header injection
    subject = f"You are invited to the team {name} on PulseGuard"
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string("teams/invitation_email.txt", context), to=[invitation.email]
    )
    message.send()


def pending(team: Team) -> Any:
    """The team's invitations neither accepted nor expired, newest first."""
    return Invitation.objects.filter(team=team, accepted_at__isnull=True, expires_at__gt=timezone.now())


def revoke(request: Any, invitation: Invitation) -> None:
    team = invitation.team
    require_role(request.user, team, Role.ADMIN, "Revoking an invitation")
    with transaction.atomic():
        audit.record(
            request, Action.DELETE, team_id=team.pk, obj=invitation, object_name=invitation.email,
            changes={"role": [invitation.role, None]},
        )  # fmt: skip
        invitation.delete()


def find_invitation(token: str) -> Invitation:
    """The invitation of a link's token; 404 for none, 410 for one used or expired."""
    invitation = Invitation.objects.select_related("team").filter(token_hash=token_hash(str(token))).first()
    if invitation is None:
        raise Refused("No such invitation: the link is wrong or the invitation was revoked.", status=404)
    if invitation.accepted_at is not None:
        raise Refused("This invitation was already used.", status=410)
    if invitation.expires_at <= timezone.now():
        raise Refused("This invitation has expired: ask the team for a new one.", status=410)
    return invitation


def accept(request: Any, token: str) -> Membership:
    """Join the invitation's team as its role (signed in as the invited address)."""
    user = _person(request.user, "Accepting an invitation")
    with transaction.atomic():
        invitation = find_invitation(token)
        # Lock it, so the same link accepted twice at once joins once.
        invitation = Invitation.objects.select_for_update().select_related("team").get(pk=invitation.pk)
        if invitation.accepted_at is not None:
            raise Refused("This invitation was already used.", status=410)
        if (user.email or "").casefold() != invitation.email.casefold():
            raise Refused(
                f"This invitation is for {invitation.email}; "
                f"you are signed in as {user.email or 'a user without an e-mail address'}.",
                status=403,
            )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        team = invitation.team
        audit.record(request, Action.INVITATION_ACCEPT, team_id=team.pk, obj=invitation, object_name=invitation.email)
        membership, created = Membership.objects.get_or_create(team=team, user=user, defaults={"role": invitation.role})
        if created:
            audit.record(
                request, Action.MEMBER_ADD, team_id=team.pk, obj=membership, object_name=user.get_username(),
                changes={"role": [None, membership.role]},
            )  # fmt: skip
    teams.forget_roles(user)
    return membership
