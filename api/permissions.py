"""Roles on the API (SPEC §17): what a team's role or a key's scope may not do answers 403."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions

from authentication import teams
from authentication.models import Role, Team
from core.links import absolute_url
from monitoring.models.base import visible_team_ids

WRITE_REFUSED = (
    "Your role in this team is {role}: it may look but not change anything. Ask a team admin for the member role."
)

TWO_FACTOR_REFUSED = (
    "This team requires two-factor sign-in, and yours is off. Turn it on at {url} "
    "(or POST /api/auth/2fa/ and /api/auth/2fa/confirm/), then try again."
)
#: The annotation OwnedViewSetMixin puts on a detail object: its team requires two-factor sign-in
#: that the caller lacks.
TWO_FACTOR_BLOCKED = "pulseguard_two_factor_blocked"


def two_factor_refusal() -> str:
    return TWO_FACTOR_REFUSED.format(url=absolute_url("/accounts/"))


def refusal(principal: Any, team_id: int | None, need: str = Role.MEMBER) -> str | None:
    """Why ``principal`` may not act with ``need`` in the team, or None when it may."""
    # A team's require_two_factor (SPEC §17) refuses its members without two-factor sign-in
    # everything, reads included, whatever their role (keys and staff are exempt: see
    # authentication.teams.two_factor_exempt).
    if teams.two_factor_missing(principal, team_id):
        return two_factor_refusal()
    if teams.may(principal, team_id, need):
        return None
    key = getattr(principal, "api_key", None)
    if key is not None:
        return f"This API key has the scope {key.scope}: it may only read."
    role = teams.role_in(principal, team_id)
    if role == Role.VIEWER and need == Role.MEMBER:
        return WRITE_REFUSED.format(role=role)
    return f"This needs the {need} role in the team; yours is {role or 'none'}."


class TeamRole(permissions.BasePermission):
    """Reads for every member of the object's team; changes (any unsafe method) from ``member`` up.

    (A read key never gets here with an unsafe method: ``authentication.keys`` refuses it at
    authentication, whatever the view.)
    """

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        need = getattr(view, "required_roles", {}).get(getattr(view, "action", None))
        if need is None:
            need = Role.VIEWER if request.method in permissions.SAFE_METHODS else Role.MEMBER
        if need == Role.VIEWER:  # the object was found among the caller's teams' (``for_user``)
            # The team's require_two_factor holds for reads too (SPEC §17): read from the object
            # when OwnedViewSetMixin.get_queryset annotated it, so a read costs no query more.
            blocked = getattr(obj, TWO_FACTOR_BLOCKED, None)
            if blocked is None:
                blocked = teams.two_factor_missing(request.user, teams.team_id_of(obj))
            if blocked:
                self.message = two_factor_refusal()
                return False
            return True
        why = refusal(request.user, teams.team_id_of(obj), need)
        if why:
            self.message = why
            return False
        return True


def named_team(request: Any, need: str) -> Team:
    """The team of ``?team=<slug>`` (default: the caller's default team), where the caller holds ``need``.

    A slug of no team the caller is in answers 400 naming ``team``; too low a role, 403.
    """
    slug = request.query_params.get("team")
    if slug:
        found = Team.objects.filter(slug=str(slug)[:50])
        visible = visible_team_ids(request.user)
        team = (found if visible is None else found.filter(pk__in=visible)).first()
        if team is None:
            raise exceptions.ValidationError({"team": [f"You are in no team with the slug {str(slug)[:50]!r}."]})
    else:
        team = teams.default_team(request.user)
    why = refusal(request.user, team.pk, need)
    if why:
        raise exceptions.PermissionDenied(why)
    return team
