"""``/api/teams/``, their members and invitations, and accepting an invitation (SPEC §17).

Thin views: who may do what, and every audit row, are ``authentication.memberships``'. A team
the caller is not in answers 404 (staff see every team).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api.serializers.teams import InvitationSerializer, MemberSerializer, TeamSerializer
from authentication import memberships, teams
from authentication.models import Invitation, Membership, Role, Team
from authentication.slugs import free_slug


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This is gone."
    default_code = "gone"


def call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, its ``Refused`` answered as DRF answers (400 naming the field, 403, 404, 410)."""
    try:
        return fn(*args)
    except memberships.Refused as refused:
        if refused.status == 403:
            raise exceptions.PermissionDenied(refused.message) from refused
        if refused.status == 404:
            raise exceptions.NotFound(refused.message) from refused
        if refused.status == 410:
            raise Gone(refused.message) from refused
        raise exceptions.ValidationError(
            {refused.field or api_settings.NON_FIELD_ERRORS_KEY: [refused.message]}
        ) from refused


def visible_teams(principal: Any) -> QuerySet[Team]:
    """The teams ``principal`` is in (a key: its team); staff: every team."""
    if getattr(principal, "is_staff", False):
        return Team.objects.all()
    return Team.objects.filter(pk__in=list(teams.roles(principal)))


SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The team's slug.")


class TeamViewSet(viewsets.ModelViewSet):
    """Your teams (staff: all). The creator of a team is its owner."""

    serializer_class = TeamSerializer
    queryset = Team.objects.all()
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Team]:
        return visible_teams(self.request.user)

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        slug = data.get("slug") or free_slug(data["name"], lambda s: Team.objects.filter(slug=s).exists())
        team = call(memberships.create_team, self.request, data["name"], slug)
        if data.get("require_two_factor"):
            team = call(memberships.update_team, self.request, team, {"require_two_factor": True})
        serializer.instance = team

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = call(
            memberships.update_team, self.request, serializer.instance, dict(serializer.validated_data)
        )

    def perform_destroy(self, instance: Team) -> None:
        call(memberships.delete_team, self.request, instance)


class TeamScopedMixin:
    """Views under ``/api/teams/{slug}/``: the team the caller is in, else 404."""

    request: Request
    kwargs: dict[str, Any]

    def team(self) -> Team:
        found = getattr(self, "_team", None)
        if found is None:
            found = visible_teams(self.request.user).filter(slug=str(self.kwargs.get("slug", ""))[:50]).first()
            if found is None:
                raise exceptions.NotFound("You are in no team with this slug.")
            self._team = found
        return found


@extend_schema_view(
    list=extend_schema(parameters=[SLUG]),
    retrieve=extend_schema(parameters=[SLUG, OpenApiParameter("user_id", int, OpenApiParameter.PATH)]),
    partial_update=extend_schema(parameters=[SLUG, OpenApiParameter("user_id", int, OpenApiParameter.PATH)]),
    destroy=extend_schema(parameters=[SLUG, OpenApiParameter("user_id", int, OpenApiParameter.PATH)]),
)
class MemberViewSet(
    TeamScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A team's members (any member sees them); role changes and removal (admins and owners;
    the owner role only by owners); DELETE of yourself leaves the team."""

    serializer_class = MemberSerializer
    queryset = Membership.objects.all()
    # ``user__id``, not ``user_id``: a lookup through the relation gets Django's out-of-range
    # guard, so an id past 64 bits is a 404 rather than an OverflowError.
    lookup_field = "user__id"
    lookup_url_kwarg = "user_id"
    lookup_value_regex = "[0-9]+"
    http_method_names = ["get", "patch", "delete", "head", "options"]
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return Membership.objects.filter(team=self.team()).select_related("user", "team").order_by("user__username")

    def perform_update(self, serializer: Any) -> None:
        if "role" not in serializer.validated_data:
            raise exceptions.ValidationError({"role": ["Give the new role."]})
        serializer.instance = call(
            memberships.change_role, self.request, serializer.instance, serializer.validated_data["role"]
        )

    def perform_destroy(self, instance: Membership) -> None:
        call(memberships.remove_member, self.request, instance)


@extend_schema_view(
    list=extend_schema(parameters=[SLUG]),
    create=extend_schema(parameters=[SLUG]),
    destroy=extend_schema(parameters=[SLUG, OpenApiParameter("id", int, OpenApiParameter.PATH)]),
)
class InvitationViewSet(
    TeamScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """A team's pending invitations (admins and owners): send one (an e-mail with a one-time
    link), list them, revoke one."""

    serializer_class = InvitationSerializer
    queryset = Invitation.objects.all()
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        team = self.team()
        call(memberships.require_role, self.request.user, team, Role.ADMIN, "Seeing the invitations")
        return memberships.pending(team).select_related("invited_by", "team")

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        serializer.instance = call(memberships.invite, self.request, self.team(), data["email"], data["role"])

    def perform_destroy(self, instance: Invitation) -> None:
        call(memberships.revoke, self.request, instance)


class AcceptInvitationView(APIView):
    """Join the team of an invitation, signed in as the address it was sent to."""

    @extend_schema(
        request=None,
        responses={
            200: TeamSerializer,
            403: OpenApiResponse(description="Signed in with another e-mail address than the invitation's."),
            410: OpenApiResponse(description="The invitation was used or has expired."),
        },
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, token: str) -> Response:
        membership = call(memberships.accept, request, token)
        return Response(TeamSerializer(membership.team, context={"request": request}).data)
