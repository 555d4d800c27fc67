from __future__ import annotations

from django.apps import AppConfig


class AuthenticationConfig(AppConfig):
    name = "authentication"

    def ready(self) -> None:
        from authentication import teams  # noqa: F401  (connects the personal-team receiver)
