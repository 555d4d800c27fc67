from __future__ import annotations

from django.apps import AppConfig


class AuthenticationConfig(AppConfig):
    name = "authentication"
