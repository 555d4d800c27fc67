"""Escalation policies: who hears of an outage, in what order, and how often again (SPEC §18)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from monitoring.models.base import OwnedQuerySet, TeamOwned

#: Longest wait a step or a repeat may name: a week.
MAX_MINUTES = 7 * 24 * 60
MAX_STEPS = 20


class EscalationPolicy(TeamOwned):
    """Ordered steps of a team's notification configs, and a repeat until someone acknowledges.

    ``steps`` is ``[{"after_minutes": int, "notification_configs": [ids]}]`` sorted by
    ``after_minutes``, the first at 0: step 0 hears of the DOWN at once, step ``n`` once the
    incident has been open and unacknowledged ``after_minutes``. Then every
    ``repeat_every_minutes`` (0: never) each config already notified gets a reminder. The
    escalation itself is due work on the incident (``services.alerts.escalation``).
    """

    #: Who created it (kept when they leave the team; null once their account is deleted).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalation_policies",
    )
    name = models.CharField(max_length=200)
    steps = models.JSONField(default=list, help_text='[{"after_minutes": 0, "notification_configs": [1, 2]}, …]')
    repeat_every_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_MINUTES)], help_text="0: no reminders."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "escalation policies"
        indexes = [
            # EscalationPolicy.objects.for_user(user): the API list, filtered by team.
            models.Index(fields=["team", "name"], name="escalation_team_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def step(self, n: int) -> dict[str, Any] | None:
        """Step ``n`` (from 0), or None past the last."""
        steps = self.steps or []
        return steps[n] if 0 <= n < len(steps) else None

    def step_config_ids(self, n: int) -> list[int]:
        step = self.step(n)
        return [int(pk) for pk in (step or {}).get("notification_configs", [])]

    def step_due(self, n: int, started_at: datetime) -> datetime | None:
        """When step ``n`` of an incident that opened at ``started_at`` is due; None past the last."""
        step = self.step(n)
        if step is None:
            return None
        return started_at + timedelta(minutes=int(step.get("after_minutes", 0)))

    def config_ids(self) -> set[int]:
        """Every config any step names."""
        return {pk for n in range(len(self.steps or [])) for pk in self.step_config_ids(n)}
