"""Top-level URLs: the admin, the API and the dashboard."""

from __future__ import annotations

import functools

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.decorators.cache import cache_control

from api.views import PUSH_SIGNAL, PushAliasView, prometheus_metrics
from authentication import web_account, web_login
from authentication.oidc_web import OidcCallbackView, OidcLoginView
from authentication.throttle import throttled
from authentication.web import register
from monitoring.web import ack, audit, pages, public, teams


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links; answer the static icon."""
    with open(finders.find("pulseguard/favicon.ico"), "rb") as icon:
        return HttpResponse(icon.read(), content_type="image/x-icon")


# Redoc's bundle shows a "by Redocly" logo from cdn.redoc.ly: the copy served here points it at
# our own icon, so /api/redoc/ loads nothing from outside (SPEC §16: works offline).
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _redoc_bundle() -> bytes:
    with open(finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"), "rb") as bundle:
        return bundle.read().replace(REDOC_CDN_LOGO, b"/favicon.ico")


@cache_control(max_age=86400, public=True)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """The sidecar's Redoc bundle without its one outside address (templates/drf_spectacular/redoc.html)."""
    return HttpResponse(_redoc_bundle(), content_type="text/javascript")


urlpatterns = [
    path("redoc.standalone.js", redoc_bundle, name="redoc-bundle"),
    path("favicon.ico", favicon, name="favicon"),
    path("", pages.dashboard, name="dashboard"),
    # Healthchecks' ping URLs, so that existing cron wrappers work (SPEC §19): /ping/<token> is a
    # success, /ping/<token>/<signal> a signal; with or without the trailing slash, no redirect.
    re_path(r"^ping/(?P<token>[^/]+)/?$", PushAliasView.as_view(), name="ping"),
    re_path(rf"^ping/(?P<token>[^/]+)/(?P<signal>{PUSH_SIGNAL})/?$", PushAliasView.as_view(), name="ping-signal"),
    path("servers/new/", pages.server_new, name="web-server-new"),
    path("servers/<int:pk>/", pages.server_detail, name="web-server"),
    path("servers/<int:pk>/edit/", pages.server_edit, name="web-server-edit"),
    path("incidents/", pages.incidents, name="incidents"),
    path("status-pages/", pages.status_pages, name="status-pages"),
    path("status-pages/<int:pk>/", pages.status_page_posts, name="status-page-posts"),
    path("maintenance/", pages.maintenance, name="maintenance"),
    path("locations/", pages.locations, name="locations"),
    path("notifications/", pages.notifications, name="notifications"),
    path("config/", pages.config, name="config"),
    path("audit/", audit.audit_log, name="audit-log"),
    path("switch-team/", teams.switch, name="switch-team"),
    # The signed one-click acknowledge link of a DOWN alert (SPEC §18): no login, the token is the credential.
    path("ack/<str:token>/", ack.acknowledge, name="incident-ack"),
    path("", include("authentication.web_urls")),
    path("accounts/register/", register, name="register"),
    # A login page for every user, in two steps once two-factor is on (authentication.web_login).
    # A signed-in browser goes straight on (app.js sends a tab whose live feed ended here).
    path("accounts/login/", throttled(web_login.LoginView.as_view(redirect_authenticated_user=True)), name="login"),
    path("accounts/login/code/", throttled(web_login.login_code), name="login-code"),
    # Single sign-on (OpenID Connect): 404 unless OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set.
    path("accounts/oidc/login/", OidcLoginView.as_view(), name="oidc-login"),
    path("accounts/oidc/callback/", OidcCallbackView.as_view(), name="oidc-callback"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("accounts/", web_account.account, name="account"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(extra_context={"nav": "account"}),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(extra_context={"nav": "account"}),
        name="password_change_done",
    ),
    # Throttled: each POST sends an e-mail.
    path(
        "accounts/password/reset/",
        throttled(
            auth_views.PasswordResetView.as_view(
                form_class=web_account.ResetForm, email_template_name="registration/password_reset_email.txt"
            )
        ),
        name="password_reset",
    ),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # The admin's login is the project's (two-factor holds there too), throttled like every way in.
    path("admin/login/", throttled(web_login.admin_login)),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("metrics", prometheus_metrics, name="metrics"),
    path("status/<slug:slug>/", public.status_page, name="status-page"),
    path("status/<slug:slug>/logo", public.status_logo, name="status-page-logo"),
    path("subscriptions/confirm/<str:token>/", public.confirm_subscription, name="status-subscriber-confirm"),
    path("subscriptions/unsubscribe/<str:token>/", public.unsubscribe, name="status-subscriber-unsubscribe"),
    path("status/<slug:slug>/history/", public.status_history, name="status-history"),
    path("status/<slug:slug>/feed.atom", public.status_feed, {"kind": "atom"}, name="status-feed-atom"),
    path("status/<slug:slug>/feed.rss", public.status_feed, {"kind": "rss"}, name="status-feed-rss"),
    re_path(
        r"^badge/(?P<key>[A-Za-z0-9_-]{1,64})/(?P<kind>status|uptime|response)\.svg$", public.badge_svg, name="badge"
    ),
    re_path(r"^badge/(?P<key>[A-Za-z0-9_-]{1,64})/shields\.json$", public.badge_shields, name="badge-shields"),
]
