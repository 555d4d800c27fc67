"""WSGI entry point (the admin and API without live feeds); daphne serves core.asgi."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from core.env import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
application = get_wsgi_application()
