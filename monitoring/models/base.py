"""The one rule of ownership (SPEC §17): objects belong to a team; a user sees the objects of
the teams they are in, a team API key those of its team, and staff see all."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from authentication.models import Membership, Team


def visible_team_ids(principal: Any) -> Any:
    """The ids of the teams whose objects ``principal`` sees (a subquery), or None for all (staff)."""
    key = getattr(principal, "api_key", None)
    if key is not None:
        return [key.team_id]
    if principal.is_staff:
        return None
    pinned = getattr(principal, "pinned_team_ids", None)
    if pinned is not None:  # a live feed's user: exactly the teams its credential is watched with
        return sorted(pinned)
    return Membership.objects.filter(user_id=principal.pk).values("team_id")


class OwnedQuerySet(models.QuerySet):  # type: ignore[type-arg]
    #: The lookup from this model to its team (e.g. ``"server__team"``).
    team_lookup: ClassVar[str] = "team"

    def for_user(self, principal: Any) -> OwnedQuerySet:
        """What ``principal`` (a user or a team API key) may see: its teams' objects; staff every one."""
        if not getattr(principal, "is_authenticated", False):
            return self.none()
        teams = visible_team_ids(principal)
        return self if teams is None else self.filter(**{f"{self.team_lookup}__in": teams})

    def in_team(self, team: Any) -> OwnedQuerySet:
        """The objects of one team, staff or not (what a per-team quota counts)."""
        return self.filter(**{self.team_lookup: team})


class TeamOwned(models.Model):
    """An object of a team, made by ``owner`` (who may leave; the object stays with the team).

    Created without a team, it goes to its owner's personal team: code written before teams
    (and a user who never touches them) works as it did.
    """

    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        blank=True,
        related_name="%(class)ss",
        help_text="Default: the owner's personal team.",
    )

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.team_id is None and self.owner_id is not None:  # type: ignore[attr-defined]
            self.team_id = Team.objects.filter(personal_for_id=self.owner_id).values_list("pk", flat=True).first()  # type: ignore[attr-defined]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        if self.team_id is None and self.owner_id is None:  # type: ignore[attr-defined]
            raise ValidationError({"team": "Choose a team, or an owner whose personal team it joins."})
