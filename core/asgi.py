"""ASGI entry point: HTTP (Django, SSE) and WebSocket (Channels) in one application."""

from __future__ import annotations

import gc
import os

from core.env import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
# Read by the settings: no persistent database connections in the web process (core.settings.base).
os.environ["PULSEGUARD_ASGI"] = "1"

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import get_resolver

# Django must be set up before anything imports models (the WebSocket routes do), hence E402.
django_asgi_app = get_asgi_application()

from api.lean_push import LeanPushes  # noqa: E402
from authentication.middleware import WebSocketOriginValidator  # noqa: E402
from core import embedded, http_limits  # noqa: E402
from core.overload import InFlightLimit  # noqa: E402
from core.shared_threads import SharedThreads  # noqa: E402
from monitoring.routing import websocket_urlpatterns  # noqa: E402

# Oversized request lines and headers are answered 414/431 by daphne's HTTP parser (core.http_limits).
http_limits.install()

application = ProtocolTypeRouter(
    {
        # A push without a body is answered by the lean path's group commit (api.lean_push); SSE
        # streams and other pushes run on shared threads; an overload of pushes is answered 503 at
        # once, and so is any other request past WEB_MAX_INFLIGHT in this process.
        "http": LeanPushes(InFlightLimit(SharedThreads(django_asgi_app))),
        # Origin first (a browser on a foreign site is refused before anything else); the consumer
        # accepts the handshake, then authenticates the token or session (authentication.credentials).
        "websocket": WebSocketOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

if embedded.wanted():
    # The embedded default (bin/run with the in-memory layer): the scheduler in this process.
    application = embedded.CaptureLoop(application)
    embedded.start()

# Everything loaded so far (Django, the URLconf, the apps' modules) lives as long as the worker:
# move it out of the collector's reach, so that a full collection, which otherwise walks these
# ~170,000 objects, no longer costs a request tens to hundreds of milliseconds (issue 20).
get_resolver().url_patterns  # noqa: B018 — import every view module now, before the freeze
gc.freeze()
