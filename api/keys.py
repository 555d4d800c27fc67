"""``/api/teams/{slug}/api-keys/`` (SPEC §17): a team's API keys, for its admins and owners.

A team the caller is not in answers 404; a role below admin, 403; a request made with a key,
403 (a key never makes or revokes keys). Each creation and revocation leaves an audit row, in
the transaction that made the change.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import refusal
from api.serializers.keys import ApiKeySerializer, NewApiKeySerializer
from authentication import audit, keys
from authentication.models import ApiKey, Role, Team
from monitoring.models.base import visible_team_ids


class TeamKeysMixin:
    """The team of the path's ``slug``, where the caller is an admin or owner."""

    permission_classes = [permissions.IsAuthenticated, keys.PeopleOnly]
    serializer_class = ApiKeySerializer
    request: Any
    kwargs: dict[str, Any]

    def get_team(self) -> Team:
        if not hasattr(self, "_team"):
            found = Team.objects.filter(slug=str(self.kwargs["slug"]))
            visible = visible_team_ids(self.request.user)
            team = (found if visible is None else found.filter(pk__in=visible)).first()
            if team is None:
                raise NotFound("You are in no team with this slug.")
            why = refusal(self.request.user, team.pk, Role.ADMIN)
            if why:
                raise PermissionDenied(why)
            self._team = team
        return self._team

    def get_queryset(self) -> QuerySet[ApiKey]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model
            return ApiKey.objects.none()
        return ApiKey.objects.filter(team=self.get_team()).select_related("created_by")


class TeamKeysView(TeamKeysMixin, generics.ListCreateAPIView):  # type: ignore[type-arg]
    """List the team's keys (never the keys themselves), or make one and answer it once."""

    @extend_schema(request=ApiKeySerializer, responses={201: NewApiKeySerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team = self.get_team()
        params = ApiKeySerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with transaction.atomic():
            key, raw = keys.create(team, params.validated_data["name"], params.validated_data["scope"], request.user)
            audit.record(request, "key_create", team_id=team.pk, obj=key)
        key = self.get_queryset().get(pk=key.pk)
        return Response(NewApiKeySerializer(key, context={"raw_key": raw}).data, status=status.HTTP_201_CREATED)


class TeamKeyView(TeamKeysMixin, generics.RetrieveDestroyAPIView):  # type: ignore[type-arg]
    """One key; DELETE revokes it at once (every process looks keys up on every request)."""

    def perform_destroy(self, instance: ApiKey) -> None:
        with transaction.atomic():
            audit.record(self.request, "key_delete", team_id=instance.team_id, obj=instance)
            instance.delete()
