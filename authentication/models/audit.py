"""The audit log (SPEC §17): one row for every change made by a person or a key."""

from __future__ import annotations

from typing import Any

from django.db import models

from authentication.models.teams import Membership, Role

#: The roles that read their team's audit log (SPEC §17).
AUDIT_ROLES = (Role.OWNER, Role.ADMIN)


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def for_admin(self, principal: Any) -> AuditQuerySet:
        """The rows of the teams where ``principal`` is an admin or owner (staff: every row).

        A key acts as a member or viewer of its team, so it reads none."""
        if getattr(principal, "is_staff", False):
            return self.all()
        return self.filter(team_id__in=admin_team_ids(principal))


def admin_team_ids(principal: Any) -> Any:
    """The ids of the teams ``principal`` admins or owns, as a subquery (none for a key)."""
    if getattr(principal, "api_key", None) is not None or not getattr(principal, "is_authenticated", False):
        return Membership.objects.none().values("team_id")
    return Membership.objects.filter(user_id=principal.pk, role__in=AUDIT_ROLES).values("team_id")


class AuditEntry(models.Model):
    """Who changed what, when and from where: written by ``authentication.audit.record()`` in the
    transaction of the change, read by the team's admins and owners, pruned after
    AUDIT_RETENTION_DAYS (``monitoring.services.history.retention.prune_audit``)."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        PAUSE = "pause"
        RESUME = "resume"
        CHECK = "check"
        ACKNOWLEDGE = "acknowledge"
        IMPORT = "import"
        MEMBER_ADD = "member_add"
        MEMBER_ROLE = "member_role"
        MEMBER_REMOVE = "member_remove"
        INVITATION_CREATE = "invitation_create"
        INVITATION_ACCEPT = "invitation_accept"
        KEY_CREATE = "key_create"
        KEY_DELETE = "key_delete"

    class ActorType(models.TextChoices):
        USER = "user"
        KEY = "key"

    time = models.DateTimeField(db_index=True)
    team = models.ForeignKey("authentication.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor_type = models.CharField(max_length=4, choices=ActorType.choices)
    #: The user or key id, kept when the user or key is deleted (the name too).
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    #: ``key:<prefix>`` for a key, the user id as text for a user: what the ``actor`` filter matches.
    actor_ref = models.CharField(max_length=32, blank=True, db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_name = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        verbose_name_plural = "audit entries"
        # The API's and the web page's lists: a team's rows, newest first.
        indexes = [models.Index(fields=["team", "-time"], name="audit_team_time_idx")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_type} {self.object_name}"
