"""Status page subscribers on the API (SPEC §21).

``POST /api/status-pages/<slug>/subscribe/`` needs no login (a public page only), throttled per
client address. ``/api/status-pages/{id}/subscribers/`` lists a page's subscribers and
``DELETE …/subscribers/{sub_id}/`` removes one: the page's team's admins and owners only (a
viewer or member gets 403, another team 404), since nobody else may see the addresses.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView, RetrieveDestroyAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import refusal
from api.serializers.statuspages import SubscriberSerializer, SubscribeSerializer
from authentication import audit
from authentication.models import Role
from authentication.throttle import CountedThrottle, client_address
from monitoring.models import StatusPage, Subscriber
from monitoring.services.subscribers import subscriptions


class SubscribeRateThrottle(CountedThrottle):
    """Sign-ups per client address at SUBSCRIBE_THROTTLE_RATE (read per request), every page together."""

    def rate(self) -> str:
        return settings.SUBSCRIBE_THROTTLE_RATE

    def key(self, request: Any, view: Any) -> str:
        return f"subscribe:{client_address(request.META)}"


class SubscribeView(APIView):
    """A visitor subscribes to a public page by e-mail (confirmed by a link) or by webhook."""

    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [SubscribeRateThrottle]
    serializer_class = SubscribeSerializer

    @extend_schema(request=SubscribeSerializer, responses={202: OpenApiResponse(description="Accepted")})
    def post(self, request: Request, slug: str) -> Response:
        page = StatusPage.objects.public().defer("logo").filter(slug=slug).first()
        if page is None:
            raise Http404("No such status page.")
        serializer = SubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        kind, target = serializer.kind_and_target()
        with transaction.atomic():
            subscriptions.subscribe(page, kind, target)
        # The same answer whether or not the address was subscribed already.
        detail = "Check your inbox for a confirmation link." if kind == "email" else "Subscribed."
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class PageSubscribersMixin:
    """The page of the URL, among the caller's teams' (else 404), where the caller is an admin (else 403)."""

    request: Any
    kwargs: dict[str, Any]
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = SubscriberSerializer

    def page(self) -> StatusPage:
        page = StatusPage.objects.for_user(self.request.user).defer("logo").filter(pk=self.kwargs["page_id"]).first()
        if page is None:
            raise Http404("No such status page.")
        why = refusal(self.request.user, page.team_id, Role.ADMIN)
        if why:
            raise PermissionDenied(why)
        return page


class SubscriberListView(PageSubscribersMixin, ListAPIView):
    filter_backends: list[type] = []

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the types
            return Subscriber.objects.none()
        return Subscriber.objects.filter(page=self.page()).order_by("-created_at", "-id")


class SubscriberDetailView(PageSubscribersMixin, RetrieveDestroyAPIView):
    queryset = Subscriber.objects.none()  # get_object() below finds it within the page

    def get_object(self) -> Subscriber:
        subscriber = Subscriber.objects.filter(page=self.page(), pk=self.kwargs["pk"]).first()
        if subscriber is None:
            raise Http404("No such subscriber.")
        return subscriber

    def perform_destroy(self, subscriber: Subscriber) -> None:
        with transaction.atomic():
            audit.record(
                self.request,
                "delete",
                team_id=subscriber.page.team_id,
                object_type="subscriber",
                object_id=subscriber.pk,
                object_name=f"{subscriber.kind} subscriber of {subscriber.page.slug}",
            )
            subscriptions.unsubscribe(subscriber)
