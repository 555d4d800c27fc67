"""The one team policy for every resource viewset (SPEC §17)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, Model, OuterRef, QuerySet
from rest_framework import permissions, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.reverse import reverse

from api import quotas
from api.permissions import TWO_FACTOR_BLOCKED, TeamRole, refusal, two_factor_refusal
from authentication import audit
from authentication.teams import default_team, team_id_of, two_factor_blocked_teams


class OwnedViewSetMixin:
    """Scope every query to what the caller may see (``for_user``), so other teams' ids answer 404.

    Resource viewsets declare ``queryset`` (whose manager has ``for_user``). A change needs the
    ``member`` role in the object's team (``api.permissions.TeamRole``, 403 otherwise). A new
    object goes to the team its ``team`` field names, else to the caller's default team; its
    ``owner`` is the requesting user; a create past the team's quota (``api.quotas``) answers 403.

    Every create, update that changes something, and delete writes its audit row in the same
    transaction (``authentication.audit``); a viewset that deletes its own way overrides
    ``delete_instance``.
    """

    queryset: QuerySet[Any]
    request: Any
    permission_classes = [permissions.IsAuthenticated, TeamRole]

    def get_queryset(self) -> QuerySet[Any]:
        queryset = self.queryset.for_user(self.request.user)  # type: ignore[attr-defined]
        blocked = two_factor_blocked_teams(self.request.user)
        if blocked is None:
            return queryset
        # A team's require_two_factor (SPEC §17), as subqueries (no query more): one object of
        # such a team carries TWO_FACTOR_BLOCKED for TeamRole to answer 403 with; lists leave
        # such teams' objects out, and a list filtered by such a team answers 403 saying so.
        lookup = queryset.team_lookup
        if getattr(self, "detail", False):
            return queryset.annotate(**{TWO_FACTOR_BLOCKED: Exists(blocked.filter(pk=OuterRef(lookup)))})
        slug = self.request.query_params.get("team")
        if slug and blocked.filter(slug=str(slug)[:50]).exists():
            raise PermissionDenied(two_factor_refusal())
        return queryset.exclude(**{f"{lookup}__in": blocked})

    def perform_create(self, serializer: Any) -> None:
        model = serializer.Meta.model
        fields = {f.name for f in model._meta.fields}
        extra: dict[str, Any] = {}
        team = serializer.validated_data.get("team") or default_team(self.request.user)
        extra["team"] = team
        team_id = team.pk
        why = refusal(self.request.user, team_id)
        if why:
            raise PermissionDenied(why)
        why = quotas.over_quota(self.request.user, model, team_id=team_id)
        if why:
            raise PermissionDenied(why)
        if "owner" in fields:
            extra["owner"] = self.request.user if getattr(self.request.user, "pk", None) else None
        with transaction.atomic():
            instance = serializer.save(**extra)
            audit.record(self.request, "create", team_id=team_id, obj=instance, changes=audit.created(instance))

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            before = audit.snapshot(serializer.instance)
            old_team = team_id_of(serializer.instance)
            instance = serializer.save()
            changes = audit.diff(before, audit.snapshot(instance))
            if not changes:
                return
            new_team = team_id_of(instance)
            # Moved to another team: both teams' admins see the move.
            for team_id in dict.fromkeys([new_team, old_team]):
                audit.record(self.request, "update", team_id=team_id, obj=instance, changes=changes)

    def perform_destroy(self, instance: Model) -> None:
        with transaction.atomic():
            team_id, pk, name = team_id_of(instance), instance.pk, str(instance)
            self.delete_instance(instance)
            audit.record(
                self.request,
                "delete",
                team_id=team_id,
                object_type=instance._meta.model_name or "",
                object_id=pk,
                object_name=name,
            )

    def delete_instance(self, instance: Model) -> None:
        instance.delete()

    def get_success_headers(self, data: Any) -> dict[str, str]:
        """``Location`` of the created API object (DRF's default reads ``url``, a server's target)."""
        pk = data.get("id") if isinstance(data, dict) else None
        if pk is None:
            return {}
        name = f"{self.basename}-detail"  # type: ignore[attr-defined]
        return {"Location": reverse(name, kwargs={"pk": pk}, request=self.request)}


class OwnedModelViewSet(OwnedViewSetMixin, viewsets.ModelViewSet):
    pass


class OwnedReadOnlyViewSet(OwnedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
