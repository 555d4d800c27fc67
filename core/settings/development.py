"""Development: no services needed; SQLite and the in-memory channel layer by default."""

from core.env import envbool, envstr
from core.settings.base import *  # noqa: F403 — Django's documented way to layer settings
from core.settings.base import STATIC_ROOT

DEBUG = envbool("DEBUG", "true")
MONITOR_ALLOW_PRIVATE_TARGETS = envbool("MONITOR_ALLOW_PRIVATE_TARGETS", "true")
# Alerts by e-mail print to the console unless an SMTP server (or a backend) is configured.
if not envstr("EMAIL_HOST") and not envstr("EMAIL_BACKEND"):
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
WHITENOISE_USE_FINDERS = True  # daphne serves app static files without collectstatic
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
