"""What a status page says (SPEC §21): ``/api/status-pages/{id}/posts/`` with their updates, and
``/api/status-pages/{id}/announcements/``.

They belong to the page's team: the page is looked up among the caller's (another team's
page answers 404, its posts too), writing needs the member role (403 for a viewer), and every
change writes its audit row in its transaction, as ``OwnedViewSetMixin`` does for the rest.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.shortcuts import get_object_or_404
from rest_framework import permissions, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import refusal, two_factor_refusal
from api.serializers.posts import AnnouncementSerializer, IncidentPostSerializer, PostUpdateSerializer
from api.viewsets import OwnedModelViewSet
from authentication import audit, teams
from monitoring.models import Announcement, IncidentPost, StatusPage
from monitoring.services.statuspage_posts import add_update


class PageChildViewSet(OwnedModelViewSet):
    """The objects of one page, at ``/api/status-pages/{page_pk}/…``."""

    ordering_fields = ["created_at", "id"]
    _page: StatusPage | None = None

    def page(self) -> StatusPage:
        if self._page is None:
            page = get_object_or_404(StatusPage.objects.for_user(self.request.user), pk=self.kwargs["page_pk"])
            if teams.two_factor_missing(self.request.user, page.team_id):
                raise PermissionDenied(two_factor_refusal())
            self._page = page
        return self._page

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(page=self.page())

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        if "page_pk" in self.kwargs:  # not when drf-spectacular builds the schema
            context["page"] = self.page()
        return context

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if "page_pk" in self.kwargs:
            page = self.page()  # 404 for another team's page, before any role is judged
            if request.method not in permissions.SAFE_METHODS:
                why = refusal(request.user, page.team_id)
                if why:
                    raise PermissionDenied(why)

    def perform_create(self, serializer: Any) -> None:
        page = self.page()
        with transaction.atomic():
            instance = serializer.save(page=page)
            audit.record(self.request, "create", team_id=page.team_id, obj=instance, changes=audit.created(instance))

    def get_success_headers(self, data: Any) -> dict[str, str]:
        return {}


class IncidentPostViewSet(PageChildViewSet):
    queryset = IncidentPost.objects.select_related("page").prefetch_related("servers", "updates")
    serializer_class = IncidentPostSerializer

    @action(detail=True, methods=["post"], serializer_class=PostUpdateSerializer)
    def updates(self, request: Request, page_pk: int, pk: int) -> Response:
        """Add an update ``{status, message}``: the post takes its status (``resolved`` resolves it)."""
        post = self.get_object()
        serializer = PostUpdateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            update = add_update(post, **serializer.validated_data)
            audit.record(request, "create", team_id=post.page.team_id, obj=update, changes=audit.created(update))
        post = self.get_queryset().get(pk=post.pk)
        return Response(
            IncidentPostSerializer(post, context=self.get_serializer_context()).data, status.HTTP_201_CREATED
        )


class AnnouncementViewSet(PageChildViewSet):
    queryset = Announcement.objects.select_related("page")
    serializer_class = AnnouncementSerializer
