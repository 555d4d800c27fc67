"""Top-level URLs: the admin, the API and the dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from authentication.throttle import throttled
from monitoring.dashboard import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
    # A login page for every user; the admin's own login only admits staff.
    path("accounts/login/", throttled(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    # The admin's login page, throttled like every other way in (authentication.throttle).
    path("admin/login/", throttled(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
]
