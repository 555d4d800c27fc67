"""The team pages' URLs (``authentication.web_teams``), included at the site's root by core.urls."""

from __future__ import annotations

from django.urls import path

from authentication import web_teams

urlpatterns = [
    path("teams/", web_teams.team_list, name="web-teams"),
    path("teams/<slug:slug>/", web_teams.team_detail, name="web-team"),
    path("teams/<slug:slug>/settings/", web_teams.team_settings, name="web-team-settings"),
    path("teams/<slug:slug>/delete/", web_teams.team_delete, name="web-team-delete"),
    path("teams/<slug:slug>/members/<int:user_id>/role/", web_teams.member_role, name="web-member-role"),
    path("teams/<slug:slug>/members/<int:user_id>/remove/", web_teams.member_remove, name="web-member-remove"),
    path("teams/<slug:slug>/invitations/", web_teams.invitation_send, name="web-invitation-send"),
    path("teams/<slug:slug>/invitations/<int:pk>/revoke/", web_teams.invitation_revoke, name="web-invitation-revoke"),
    path("teams/<slug:slug>/api-keys/", web_teams.key_create, name="web-key-create"),
    path("teams/<slug:slug>/api-keys/<int:pk>/revoke/", web_teams.key_revoke, name="web-key-revoke"),
    path("invitations/<str:token>/", web_teams.invitation, name="web-invitation"),
]
