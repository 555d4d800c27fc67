"""Top-level URLs: the admin, the API and the dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from monitoring.dashboard import dashboard
from monitoring.views import prometheus_metrics

urlpatterns = [
    path("", dashboard, name="dashboard"),
    # A login page for every user; the admin's own login only admits staff.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("metrics", prometheus_metrics, name="metrics"),
]
