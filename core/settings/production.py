"""Production: a real SECRET_KEY is required and DEBUG is off whatever the environment says."""

from django.core.exceptions import ImproperlyConfigured

from core.env import envbool, envint
from core.settings.base import *  # noqa: F403 — Django's documented way to layer settings
from core.settings.base import SECRET_KEY

if not SECRET_KEY or "insecure" in SECRET_KEY or "change-me" in SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or a placeholder: set a random value of at least 50 characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )

DEBUG = False
MONITOR_ALLOW_PRIVATE_TARGETS = envbool("MONITOR_ALLOW_PRIVATE_TARGETS", "false")

SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "false")
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "false")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "false")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("SECURE_PROXY_SSL", "false") else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
