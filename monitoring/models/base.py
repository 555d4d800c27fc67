"""The one rule of ownership: a user sees their own objects, staff see all."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models


class OwnedQuerySet(models.QuerySet):  # type: ignore[type-arg]
    #: The lookup from this model to its owning user (e.g. ``"server__owner"``).
    owner_lookup: ClassVar[str] = "owner"

    def for_user(self, user: Any) -> OwnedQuerySet:
        """What ``user`` may see: their own objects, or every one for staff."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self if user.is_staff else self.filter(**{self.owner_lookup: user})

    def owned_by(self, user: Any) -> OwnedQuerySet:
        """The objects of ``user``'s account, staff or not (what a per-account quota counts)."""
        return self.filter(**{self.owner_lookup: user})
