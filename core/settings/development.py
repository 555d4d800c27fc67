"""Development: no services needed; SQLite and the in-memory channel layer by default."""

from core.env import envbool
from core.settings.base import *  # noqa: F403 — Django's documented way to layer settings
from core.settings.base import STATIC_ROOT

DEBUG = envbool("DEBUG", "true")
MONITOR_ALLOW_PRIVATE_TARGETS = envbool("MONITOR_ALLOW_PRIVATE_TARGETS", "true")
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
WHITENOISE_USE_FINDERS = True  # daphne serves app static files without collectstatic
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
