"""Per-team quotas for an install with open registration (issue 14, D.30; teams: SPEC §17).

``MAX_SERVERS_PER_ACCOUNT`` and ``MAX_NOTIFICATION_CONFIGS_PER_ACCOUNT`` (0 = unlimited) bound
what one team may own (a user who never makes a team: what their account owns); the API's
create paths (``OwnedViewSetMixin.perform_create``) answer
403 past them and an import answers 400 with the same message, writing nothing. Staff are never
limited: they run the install. Two creates racing past the last free place may both succeed:
a quota is a brake on abuse, not an invariant.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from monitoring.models import NotificationConfig, Server

#: The setting that bounds each model, per account.
LIMITS: dict[type[models.Model], str] = {
    Server: "MAX_SERVERS_PER_ACCOUNT",
    NotificationConfig: "MAX_NOTIFICATION_CONFIGS_PER_ACCOUNT",
}


def over_quota(user: Any, model: type[models.Model], adding: int = 1, *, team_id: int | None) -> str | None:
    """Why ``user`` may not add ``adding`` more ``model`` objects to the team, or None when they may."""
    setting = LIMITS.get(model)
    limit = getattr(settings, setting, 0) if setting else 0
    if not limit or not adding or getattr(user, "is_staff", False):
        return None
    have = model.objects.in_team(team_id).count()  # type: ignore[attr-defined]
    if have + adding <= limit:
        return None
    noun = model._meta.verbose_name_plural
    more = f"; this would add {adding:,}" if adding > 1 else ""
    return f"A team may have at most {limit:,} {noun} ({setting}); you have {have:,}{more}."
