"""WebSocket routes, mounted by ``core.asgi`` behind the Origin check and authentication."""

from __future__ import annotations

from django.urls import path

from monitoring.consumers import StatusConsumer

websocket_urlpatterns = [
    path("ws/status/", StatusConsumer.as_asgi()),
]
