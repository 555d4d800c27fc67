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
from django.db.models.signals import post_save
from django.dispatch import receiver

from authentication.models import ROLE_RANK, ApiKey, Membership, Role, Team
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
        found = dict(Membership.objects.filter(user_id=principal.pk).values_list("team_id", "role"))
    else:
        found = {}
    with contextlib.suppress(AttributeError):  # AnonymousUser and the like
        principal._pulseguard_roles = found
    return found


def forget_roles(principal: Any) -> None:
    """Drop what ``roles()`` remembered (after a membership of ``principal`` changed)."""
    principal.__dict__.pop("_pulseguard_roles", None)


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
    for path in ("team_id", "server.team_id", "config.server.team_id"):
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
