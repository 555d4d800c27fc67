"""``/accounts/oidc/login/`` and ``/accounts/oidc/callback/``: single sign-on in the browser.

Both answer 404 unless single sign-on is configured (``authentication.oidc.enabled()``). Every
way the provider's side can fail — unreachable, an error answer, a token that does not verify,
a refused sign-in — ends on the login page with a message, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from authentication.oidc import OidcUnavailable, callback_url, discovery, enabled, oidc_setting

log = logging.getLogger(__name__)

#: The session key holding the issuer a session was signed in through (absent: a password sign-in).
SSO_SESSION_KEY = "sso_issuer"
UNREACHABLE = "The single sign-on provider could not be reached; try again later."
INCOMPLETE = "Single sign-on did not complete; try again."
#: What went wrong on the provider's side or on the way back: shown as INCOMPLETE, logged in full.
FLOW_ERRORS = (requests.RequestException, SuspiciousOperation, jwt.PyJWTError, ValueError, KeyError, TypeError)


class OidcLoginView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's authorization endpoint (state, nonce and PKCE kept in the session)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, **kwargs: Any) -> None:
        # Not the library's __init__: it reads the endpoint from settings; ours comes by discovery in get().
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovery()["authorization_endpoint"]
        except OidcUnavailable as exc:
            log.warning("oidc unavailable error=%s", exc)
            messages.error(request, UNREACHABLE)
            return redirect(settings.LOGIN_URL)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        return super().get(request)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        return {"redirect_uri": callback_url(request)}


class OidcCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: exchanges the code, signs the user in."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404
        try:
            return super().get(request)
        except OidcUnavailable as exc:
            log.warning("oidc unavailable error=%s", exc)
            request.oidc_refusal = UNREACHABLE  # type: ignore[attr-defined]
        except FLOW_ERRORS as exc:
            log.warning("oidc callback failed error=%s: %s", type(exc).__name__, exc)
            request.oidc_refusal = INCOMPLETE  # type: ignore[attr-defined]
        return self.login_failure()

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        # Says this session came through the provider (which did the two-factor part, docs/SSO.md).
        self.request.session[SSO_SESSION_KEY] = settings.OIDC_ISSUER
        return response

    def login_failure(self) -> HttpResponse:
        if self.request.GET.get("error"):
            log.info("oidc provider answered error=%s", self.request.GET.get("error"))
        messages.error(self.request, getattr(self.request, "oidc_refusal", INCOMPLETE))
        return redirect(settings.LOGIN_URL)
