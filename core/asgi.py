"""ASGI entry point: HTTP (Django, SSE) and WebSocket (Channels) in one application."""

from __future__ import annotations

import os

from core.env import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models (the WebSocket routes do).
django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
