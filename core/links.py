"""Absolute links for e-mails, webhooks and feeds (SPEC §2)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def absolute_url(path: str, request: Any = None) -> str:
    """``PUBLIC_URL`` + ``path``; unset, the request's host, else ``http://localhost:8000``."""
    if settings.PUBLIC_URL:
        return f"{settings.PUBLIC_URL}{path}"
    if request is not None and hasattr(request, "build_absolute_uri"):
        return request.build_absolute_uri(path)
    return f"http://localhost:8000{path}"
