"""The URLconf of a request whose Host is a status page's own domain (``monitoring.web.domains``):
``/`` is that page; every other path (its summary JSON, logo, static files) as usual."""

from __future__ import annotations

from django.urls import include, path

from monitoring.web import public

urlpatterns = [
    path("", public.domain_page, name="status-domain-page"),
    path("", include("core.urls")),
]
