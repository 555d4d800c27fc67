"""``{% sso_button %}``: the login page's "Sign in with …" link, only when single sign-on is on."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from authentication.oidc import enabled

register = template.Library()


@register.inclusion_tag("registration/sso_button.html", takes_context=True)
def sso_button(context: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": enabled(), "display_name": settings.OIDC_DISPLAY_NAME, "next": context.get("next", "")}
