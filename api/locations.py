"""``/api/locations/`` (SPEC §20): probe locations, shared (staff's) or a team's, and their agent tokens.

Everyone sees the shared locations and their teams' own; another team's location answers 404.
A team's location is changed by its members and up (a viewer: 403), a shared one by staff
only; the scheduler's own location (``PROBE_LOCATION``) is never deleted and keeps its slug.
Agent tokens are made, listed and revoked by the location team's admins and owners (as team API
keys are, ``api.keys``), a shared location's by staff. Every change leaves an audit row.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import TeamRole, refusal
from api.serializers.locations import AgentTokenSerializer, NewAgentTokenSerializer, ProbeLocationSerializer
from api.viewsets import OwnedModelViewSet
from authentication import audit, keys
from authentication.models import Role
from authentication.slugs import free_slug
from authentication.teams import default_team
from monitoring.models import AgentToken, PingResult, ProbeLocation
from monitoring.services.locations.agents import create_token

STAFF_ONLY = "A shared location is made and changed by staff only; make one for your team instead."


class LocationRole(TeamRole):
    """``TeamRole``, and a shared location (no team) changed by staff only."""

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        if obj.shared and request.method not in permissions.SAFE_METHODS:
            if not getattr(request.user, "is_staff", False):
                self.message = STAFF_ONLY
                return False
            return True
        return super().has_object_permission(request, view, obj)


class LocationViewSet(OwnedModelViewSet):
    queryset = ProbeLocation.objects.select_related("team")
    serializer_class = ProbeLocationSerializer
    permission_classes = [permissions.IsAuthenticated, LocationRole]
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filterset_class = None
    ordering_fields = ["name", "slug", "id"]

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        slug = data.get("slug") or free_slug(
            data["name"], lambda s: ProbeLocation.objects.filter(slug=s).exists(), fallback="location"
        )
        if data.pop("shared", False):
            if not getattr(self.request.user, "is_staff", False):
                raise PermissionDenied(STAFF_ONLY)
            if data.get("team") is not None:
                raise ValidationError({"team": ["A shared location has no team: leave team out."]})
            team = None
        else:
            team = data.get("team") or default_team(self.request.user)
            why = refusal(self.request.user, team.pk)
            if why:
                raise PermissionDenied(why)
        user = self.request.user if getattr(self.request.user, "pk", None) else None
        with transaction.atomic():
            instance = serializer.save(team=team, slug=slug, created_by=user)
            audit.record(
                self.request,
                "create",
                team_id=team.pk if team else None,
                obj=instance,
                changes=audit.created(instance),
            )

    def perform_update(self, serializer: Any) -> None:
        serializer.validated_data.pop("shared", None)
        super().perform_update(serializer)

    def delete_instance(self, instance: ProbeLocation) -> None:
        if instance.is_local:
            raise LocalKept()
        used = instance.server_states.aggregate(n=Count("server", distinct=True))["n"]
        if used:
            raise LocationInUse(
                f"{used} server{'s' if used != 1 else ''} {'are' if used != 1 else 'is'} checked from this "
                "location: take it out of their locations first."
            )
        with transaction.atomic():  # the results checked from it go with it (their FK is RESTRICT)
            PingResult.objects.filter(location=instance).delete()
            instance.delete()

    def get_success_headers(self, data: Any) -> dict[str, str]:
        return {}


class LocalKept(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The scheduler's own location (PROBE_LOCATION) cannot be deleted."
    default_code = "local_location"


class LocationInUse(APIException):
    """409: servers are checked from it (``ServerLocation.location`` is RESTRICT)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "location_in_use"


class LocationTokensMixin:
    """The location of the path's ``slug``, where the caller may manage its agents' tokens."""

    permission_classes = [permissions.IsAuthenticated, keys.PeopleOnly]
    serializer_class = AgentTokenSerializer
    request: Any
    kwargs: dict[str, Any]

    def get_location(self) -> ProbeLocation:
        if not hasattr(self, "_location"):
            found = ProbeLocation.objects.for_user(self.request.user).filter(slug=str(self.kwargs["slug"])).first()
            if found is None:
                raise NotFound("No location with this slug is yours or shared.")
            if found.shared:
                if not getattr(self.request.user, "is_staff", False):
                    raise PermissionDenied("Agent tokens of a shared location are made by staff only.")
            else:
                why = refusal(self.request.user, found.team_id, Role.ADMIN)
                if why:
                    raise PermissionDenied(why)
            self._location = found
        return self._location

    def get_queryset(self) -> QuerySet[AgentToken]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model
            return AgentToken.objects.none()
        return AgentToken.objects.filter(location=self.get_location()).select_related("created_by")


class LocationTokensView(LocationTokensMixin, generics.ListCreateAPIView):  # type: ignore[type-arg]
    """List the location's agent tokens (never the tokens themselves), or make one and answer it once."""

    @extend_schema(request=AgentTokenSerializer, responses={201: NewAgentTokenSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        location = self.get_location()
        params = AgentTokenSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with transaction.atomic():
            token, raw = create_token(location, params.validated_data["name"], request.user)
            audit.record(request, "key_create", team_id=location.team_id, obj=token)
        token = self.get_queryset().get(pk=token.pk)
        return Response(NewAgentTokenSerializer(token, context={"raw_token": raw}).data, status=status.HTTP_201_CREATED)


class LocationTokenView(LocationTokensMixin, generics.RetrieveDestroyAPIView):  # type: ignore[type-arg]
    """One token; DELETE revokes it at once (the agent API looks tokens up on every request)."""

    def perform_destroy(self, instance: AgentToken) -> None:
        with transaction.atomic():
            audit.record(self.request, "key_delete", team_id=self.get_location().team_id, obj=instance)
            instance.delete()
