"""Every API route under /api/."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from api import agent, keys, locations, posts, subscribers, teams, views
from api.audit_views import AuditEntryViewSet
from api.config_views import ConfigExportView, ConfigImportView
from api.health import HealthView
from monitoring import sse
from monitoring.web.public import StatusPageSummaryView

router = DefaultRouter()
router.register("servers", views.ServerViewSet, basename="server")
router.register("ping-results", views.PingResultViewSet, basename="pingresult")
router.register("server-status", views.ServerStatusViewSet, basename="serverstatus")
router.register("notification-configs", views.NotificationConfigViewSet, basename="notificationconfig")
router.register("notification-deliveries", views.NotificationDeliveryViewSet, basename="notificationdelivery")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("escalation-policies", views.EscalationPolicyViewSet, basename="escalationpolicy")
router.register("certificates", views.CertificateCheckViewSet, basename="certificatecheck")
router.register("status-pages", views.StatusPageViewSet, basename="statuspage")
router.register("maintenance-windows", views.MaintenanceWindowViewSet, basename="maintenancewindow")
router.register("audit-log", AuditEntryViewSet, basename="auditentry")
router.register("teams", teams.TeamViewSet, basename="team")
router.register("locations", locations.LocationViewSet, basename="location")

members = teams.MemberViewSet.as_view({"get": "list"})
member = teams.MemberViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
invitations = teams.InvitationViewSet.as_view({"get": "list", "post": "create"})
invitation = teams.InvitationViewSet.as_view({"delete": "destroy"})
page_posts = posts.IncidentPostViewSet.as_view({"get": "list", "post": "create"})
page_post = posts.IncidentPostViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)
page_post_updates = posts.IncidentPostViewSet.as_view({"post": "updates"})
announcements = posts.AnnouncementViewSet.as_view({"get": "list", "post": "create"})
announcement = posts.AnnouncementViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    path("auth/", include("authentication.urls")),
    path("agent/claim/", agent.ClaimView.as_view(), name="agent-claim"),
    path("agent/results/", agent.ResultsView.as_view(), name="agent-results"),
    path("agent/heartbeat/", agent.HeartbeatView.as_view(), name="agent-heartbeat"),
    path("checks/run/", views.RunChecksView.as_view(), name="checks-run"),
    path("check-ssl/", views.CheckSslView.as_view(), name="check-ssl"),
    path("events/status/", sse.status_events, name="events-status"),
    path("status-pages/<slug:slug>/summary/", StatusPageSummaryView.as_view(), name="statuspage-summary"),
    path("status-pages/<slug:slug>/subscribe/", subscribers.SubscribeView.as_view(), name="statuspage-subscribe"),
    path(
        "status-pages/<int:page_id>/subscribers/",
        subscribers.SubscriberListView.as_view(),
        name="statuspage-subscribers",
    ),
    path(
        "status-pages/<int:page_id>/subscribers/<int:pk>/",
        subscribers.SubscriberDetailView.as_view(),
        name="statuspage-subscriber",
    ),
    path("status-pages/<int:page_pk>/posts/", page_posts, name="statuspage-posts"),
    path("status-pages/<int:page_pk>/posts/<int:pk>/", page_post, name="statuspage-post"),
    path("status-pages/<int:page_pk>/posts/<int:pk>/updates/", page_post_updates, name="statuspage-post-updates"),
    path("status-pages/<int:page_pk>/announcements/", announcements, name="statuspage-announcements"),
    path("status-pages/<int:page_pk>/announcements/<int:pk>/", announcement, name="statuspage-announcement"),
    path("config/export/", ConfigExportView.as_view(), name="config-export"),
    path("config/import/", ConfigImportView.as_view(), name="config-import"),
    path("teams/<slug:slug>/api-keys/", keys.TeamKeysView.as_view(), name="team-api-keys"),
    path("teams/<slug:slug>/api-keys/<int:pk>/", keys.TeamKeyView.as_view(), name="team-api-key"),
    path("locations/<slug:slug>/tokens/", locations.LocationTokensView.as_view(), name="location-tokens"),
    path("locations/<slug:slug>/tokens/<int:pk>/", locations.LocationTokenView.as_view(), name="location-token"),
    path("health/", HealthView.as_view(), name="health"),
    path("push/", views.PushBatchView.as_view(), name="push-batch"),
    path("push/<str:token>/", views.PushView.as_view(), name="push"),
    # Healthchecks-style signals and the slashless forms, answered as they are, never redirected.
    re_path(r"^push/(?P<token>[^/]+)$", views.PushAliasView.as_view(), name="push-bare"),
    re_path(
        rf"^push/(?P<token>[^/]+)/(?P<signal>{views.PUSH_SIGNAL})/?$",
        views.PushSignalView.as_view(),
        name="push-signal",
    ),
    path("teams/<slug:slug>/members/", members, name="team-members"),
    path("teams/<slug:slug>/members/<int:user_id>/", member, name="team-member"),
    path("teams/<slug:slug>/invitations/", invitations, name="team-invitations"),
    path("teams/<slug:slug>/invitations/<int:pk>/", invitation, name="team-invitation"),
    path("invitations/<str:token>/accept/", teams.AcceptInvitationView.as_view(), name="invitation-accept"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    # The split view serves Swagger UI's start-up script at ?script, not inline (core.csp).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[AllowAny]), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema", permission_classes=[AllowAny]), name="redoc"),
    path("", include(router.urls)),
]
