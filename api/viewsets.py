"""The one team policy for every resource viewset (SPEC §17)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import permissions, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.reverse import reverse

from api import quotas
from api.permissions import TeamRole, refusal
from authentication.teams import default_team


class OwnedViewSetMixin:
    """Scope every query to what the caller may see (``for_user``), so other teams' ids answer 404.

    Resource viewsets declare ``queryset`` (whose manager has ``for_user``). A change needs the
    ``member`` role in the object's team (``api.permissions.TeamRole``, 403 otherwise). A new
    object goes to the team its ``team`` field names, else to the caller's default team; its
    ``owner`` is the requesting user; a create past the team's quota (``api.quotas``) answers 403.
    """

    queryset: QuerySet[Any]
    request: Any
    permission_classes = [permissions.IsAuthenticated, TeamRole]

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.for_user(self.request.user)  # type: ignore[attr-defined]

    def perform_create(self, serializer: Any) -> None:
        model = serializer.Meta.model
        fields = {f.name for f in model._meta.fields}
        extra: dict[str, Any] = {}
        if "team" in fields:
            team = serializer.validated_data.get("team") or default_team(self.request.user)
            extra["team"] = team
            team_id = team.pk
        else:  # hangs off a server (a notification config): the server's team
            team_id = serializer.validated_data["server"].team_id
        why = refusal(self.request.user, team_id)
        if why:
            raise PermissionDenied(why)
        why = quotas.over_quota(self.request.user, model, team_id=team_id)
        if why:
            raise PermissionDenied(why)
        if "owner" in fields:
            extra["owner"] = self.request.user if getattr(self.request.user, "pk", None) else None
        serializer.save(**extra)

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
