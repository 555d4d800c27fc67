"""Team memberships kept in step with an OpenID Connect claim (SPEC §17, ``OIDC_TEAMS_CLAIM``).

The claim's values read ``team-slug:role`` (e.g. ``ops:admin``). At each sign-in:

1. values naming no team, a personal team or no role are ignored (logged); of two values for
   one team the higher role counts;
2. a named team the user is not in gets a membership marked ``from_claim``;
3. a ``from_claim`` membership whose role the claim now names differently takes that role;
4. a ``from_claim`` membership of a team the claim no longer names is removed.

Memberships made by hand (an invitation, an admin) are never changed or removed by a claim, the
personal team is never touched, and the last owner of a team is never demoted or removed (the
step is skipped and logged: a team without an owner could not be managed at all).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from authentication.audit import record
from authentication.models import ROLE_RANK, AuditEntry, Membership, Role, Team

log = logging.getLogger(__name__)


def wanted_roles(values: Any) -> dict[str, str]:
    """``{slug: role}`` from the claim's values; values that are not ``slug:role`` are dropped."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple):
        return {}
    wanted: dict[str, str] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        # Keycloak's group mapper sends "/ops:admin" unless "Full group path" is off.
        slug, _, role = value.strip().lstrip("/").rpartition(":")
        slug, role = slug.strip().lower(), role.strip().lower()
        if not slug or role not in Role.values:
            log.info("oidc claim value ignored value=%r reason=not-slug-colon-role", value)
            continue
        if slug not in wanted or ROLE_RANK[role] > ROLE_RANK[wanted[slug]]:
            wanted[slug] = role
    return wanted


def _last_owner(membership: Membership) -> bool:
    if membership.role != Role.OWNER:
        return False
    others = Membership.objects.filter(team_id=membership.team_id, role=Role.OWNER).exclude(pk=membership.pk)
    return not others.exists()


def _audit(request: Any, action: str, membership: Membership, changes: dict[str, list[Any]]) -> None:
    record(
        request,
        action,
        team_id=membership.team_id,
        object_type="membership",
        object_id=membership.user_id,
        object_name=membership.user.get_username(),
        changes=changes,
    )


def sync_claim_memberships(user: Any, values: Any, *, request: Any) -> None:
    """Make ``user``'s claim-made memberships what the claim's ``values`` say (see the module)."""
    wanted = wanted_roles(values)
    teams = {t.slug: t for t in Team.objects.filter(slug__in=list(wanted), personal_for__isnull=True)}
    for slug in wanted.keys() - teams.keys():
        log.info("oidc claim value ignored user=%s team=%s reason=unknown-team", user.pk, slug)
    named = {teams[slug].pk: role for slug, role in wanted.items() if slug in teams}
    with transaction.atomic():
        current = {
            m.team_id: m
            for m in Membership.objects.select_for_update(of=("self",))
            .filter(user=user, team__personal_for__isnull=True)
            .select_related("team", "user")
        }
        for team_id, role in named.items():
            membership = current.get(team_id)
            if membership is None:
                membership = Membership.objects.create(team_id=team_id, user=user, role=role, from_claim=True)
                _audit(request, AuditEntry.Action.MEMBER_ADD, membership, {"role": [None, role]})
            elif not membership.from_claim or membership.role == role:
                continue  # made by hand, or already so
            elif ROLE_RANK[role] < ROLE_RANK[membership.role] and _last_owner(membership):
                log.warning("oidc claim skipped user=%s team=%s reason=last-owner-demotion", user.pk, team_id)
            else:
                old, membership.role = membership.role, role
                membership.save(update_fields=["role"])
                _audit(request, AuditEntry.Action.MEMBER_ROLE, membership, {"role": [old, role]})
        for team_id, membership in current.items():
            if not membership.from_claim or team_id in named:
                continue
            if _last_owner(membership):
                log.warning("oidc claim skipped user=%s team=%s reason=last-owner-removal", user.pk, team_id)
                continue
            _audit(request, AuditEntry.Action.MEMBER_REMOVE, membership, {"role": [membership.role, None]})
            membership.delete()
