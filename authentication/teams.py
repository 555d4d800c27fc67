"""What a role may do, in one place (SPEC §17).

A *principal* is whoever makes a request: a user, or a team API key acting as its team
(``authentication.keys.KeyPrincipal``; ``principal.api_key`` is set). A write key acts as a
``member`` of its team, a read key as a ``viewer``; staff may do everything everywhere.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, QuerySet
from django.db.models.signals import post_save
from django.dispatch import receiver

from authentication.models import ROLE_RANK, ApiKey, Membership, Role, Team, TwoFactor
from authentication.slugs import free_slug

KEY_ROLES = {ApiKey.Scope.WRITE: Role.MEMBER, ApiKey.Scope.READ: Role.VIEWER}


def roles(principal: Any) -> dict[int, str]:
    """``{team id: role}`` of every team ``principal`` is in (read once per principal object)."""
    cached = getattr(principal, "_pulseguard_roles", None)
    if cached is not None:
        return cached
    key = getattr(principal, "api_key", None)
    if key is not None:
        found = {key.team_id: KEY_ROLES[key.scope]}
    elif getattr(principal, "is_authenticated", False):
        rows = list(
            Membership.objects.filter(user_id=principal.pk).values_list("team_id", "role", "team__require_two_factor")
        )
        found = {team_id: role for team_id, role, _ in rows}
        # Read in the same query for two_factor_missing(): the common case costs nothing more.
        with contextlib.suppress(AttributeError):
            principal._pulseguard_strict_teams = {team_id for team_id, _, strict in rows if strict}
    else:
        found = {}
    with contextlib.suppress(AttributeError):  # AnonymousUser and the like
        principal._pulseguard_roles = found
    return found


def forget_roles(principal: Any) -> None:
    """Drop what ``roles()`` and ``two_factor_missing()`` remembered (after a membership or the
    two-factor sign-in of ``principal`` changed)."""
    for name in ("_pulseguard_roles", "_pulseguard_strict_teams", "_pulseguard_enrolled"):
        principal.__dict__.pop(name, None)


def two_factor_exempt(principal: Any) -> bool:
    """Who a team's ``require_two_factor`` does not bind.

    - API keys: a key is no person and signs in with nothing but itself; the team's admins
      made it on purpose (SPEC §17 keys act as the team).
    - Staff: they see every team's objects in the admin anyway — whose login asks for the code
      once they enrolled — and are the installation's operators, not a team's members: a team's
      owner does not set the rules of whoever runs the server. Refusing them only in the API
      would be theatre, not protection.
    - Anonymous callers: they see nothing anyway.
    """
    return (
        getattr(principal, "api_key", None) is not None
        or getattr(principal, "is_staff", False)
        or not getattr(principal, "is_authenticated", False)
    )


def _enrolled(user_id: Any) -> QuerySet[TwoFactor]:
    return TwoFactor.objects.filter(user_id=user_id, confirmed_at__isnull=False)


def two_factor_blocked_teams(principal: Any) -> QuerySet[Team] | None:
    """The teams ``principal`` is in that require two-factor sign-in it has not turned on, as a
    subquery (no query of its own: the API's lists leave these teams' objects out with it), or
    None when no team can be blocked (keys, staff, anonymous)."""
    if two_factor_exempt(principal):
        return None
    return Team.objects.filter(require_two_factor=True, memberships__user_id=principal.pk).filter(
        ~Exists(_enrolled(principal.pk))
    )


def without_two_factor_blocked(queryset: Any, principal: Any) -> Any:
    """``queryset`` (an OwnedQuerySet) without the objects of teams that require two-factor
    sign-in ``principal`` lacks (a subquery: no query more). For the server-rendered pages."""
    blocked = two_factor_blocked_teams(principal)
    return queryset if blocked is None else queryset.exclude(**{f"{queryset.team_lookup}__in": blocked})


def two_factor_missing(principal: Any, team_id: int | None) -> bool:
    """Whether the team requires two-factor sign-in and ``principal`` (a member) has none yet:
    then it gets 403 on the team's objects until it enrols (SPEC §17).

    Which of its teams require it comes with ``roles()``'s query; whether the user enrolled is
    one more query, only when such a team is asked about, remembered as ``roles()`` is.
    """
    if team_id is None or two_factor_exempt(principal):
        return False
    roles(principal)
    strict = getattr(principal, "_pulseguard_strict_teams", None)
    if strict is None:  # roles() was remembered without it (set from outside): ask
        strict = set(
            Team.objects.filter(require_two_factor=True, memberships__user_id=principal.pk).values_list("pk", flat=True)
        )
    if team_id not in strict:
        return False
    enrolled = getattr(principal, "_pulseguard_enrolled", None)
    if enrolled is None:
        enrolled = _enrolled(principal.pk).exists()
        with contextlib.suppress(AttributeError):
            principal._pulseguard_enrolled = enrolled
    return not enrolled


def role_in(principal: Any, team_id: int | None) -> str | None:
    return roles(principal).get(team_id) if team_id is not None else None


def may(principal: Any, team_id: int | None, need: str) -> bool:
    """Whether ``principal`` holds ``need`` or a higher role in the team (staff: always)."""
    if getattr(principal, "is_staff", False):
        return True
    role = role_in(principal, team_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[need]


def team_id_of(obj: Any) -> int | None:
    """The team of a team object or of what hangs off one (a config's server, a result's server)."""
    for path in ("team_id", "server.team_id", "config.team_id"):
        value: Any = obj
        try:
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        return value
    return None


def personal_team(user: Any) -> Team:
    """The user's personal team, made now if the user has none (e.g. made before teams)."""
    team = Team.objects.filter(personal_for_id=user.pk).first()
    return team if team is not None else make_personal_team(user)


def make_personal_team(user: Any) -> Team:
    with transaction.atomic():
        slug = free_slug(
            user.get_username(), lambda s: Team.objects.filter(slug=s).exists(), fallback=f"user-{user.pk}"
        )
        team = Team.objects.create(name=user.get_username()[:100], slug=slug, personal_for=user)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def default_team(principal: Any) -> Team | None:
    """Where a new object goes when no ``team`` is named: a key's team, else the user's personal team."""
    key = getattr(principal, "api_key", None)
    if key is not None:
        return key.team
    if not getattr(principal, "is_authenticated", False):
        return None
    return personal_team(principal)


@receiver(post_save, sender=get_user_model())
def _user_created(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """Sign-up (any path: the API, the web, the admin, createsuperuser) makes the personal team."""
    if created and not raw:
        make_personal_team(instance)
