"""Single sign-on with OpenID Connect (SPEC §17, docs/SSO.md).

mozilla-django-oidc runs the authorization-code flow (state, nonce, PKCE, the token exchange,
the id_token's signature); this module gives it its settings from ours, finds the provider's
endpoints by discovery at the first sign-in, checks the id_token's issuer and audience (the
library does not), and decides who signs in:

1. an identity (issuer, ``sub``) seen before signs in as its user;
2. else an e-mail that an existing user has is refused, unless ``OIDC_LINK_BY_EMAIL`` is on
   and the provider says ``email_verified: true``: then the identity is linked to that user;
3. else a new user is made (with an unusable password; the personal team comes with it).

Then, with ``OIDC_TEAMS_CLAIM``, the user's memberships follow the claim (``authentication.claims``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from types import SimpleNamespace
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from authentication.claims import sync_claim_memberships
from authentication.models import OidcIdentity

log = logging.getLogger(__name__)

#: How long a discovery document is believed before it is read again (keys rotate, endpoints move).
DISCOVERY_TTL_SECONDS = 3600
_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_discovery_lock = threading.Lock()

USERNAME_UNWANTED = re.compile(r"[^\w.@+-]")


class OidcUnavailable(Exception):
    """The provider could not be reached, or its discovery document is not one we can use."""


class OidcRefused(Exception):
    """This sign-in may not go on; the message is shown on the login page."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID and settings.OIDC_CLIENT_SECRET)


def discovery() -> dict[str, Any]:
    """``<OIDC_ISSUER>/.well-known/openid-configuration``, read at first use and kept an hour."""
    issuer = settings.OIDC_ISSUER
    with _discovery_lock:
        cached = _discovered.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
            return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        doc = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise OidcUnavailable(f"discovery at {url} failed: {exc}") from exc
    if not isinstance(doc, dict):
        raise OidcUnavailable(f"discovery at {url} is not a JSON object")
    if doc.get("issuer") != issuer:
        # OpenID Connect Discovery §4.3: the document must name exactly the issuer it was read for.
        raise OidcUnavailable(f"discovery at {url} names the issuer {doc.get('issuer')!r}, not {issuer!r}")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not isinstance(doc.get(k), str)]
    if missing:
        raise OidcUnavailable(f"discovery at {url} lacks {', '.join(missing)}")
    with _discovery_lock:
        _discovered[issuer] = (time.monotonic(), doc)
    return doc


def forget_discovery() -> None:
    """Read the discovery document afresh at the next sign-in (tests; a provider that moved)."""
    with _discovery_lock:
        _discovered.clear()


def callback_url(request: HttpRequest) -> str:
    """The redirect URI registered at the provider: under PUBLIC_URL when set (behind a proxy)."""
    path = reverse("oidc-callback")
    return settings.PUBLIC_URL + path if settings.PUBLIC_URL else request.build_absolute_uri(path)


def oidc_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, derived from ours (one set of names for the operator)."""
    derived = {
        "OIDC_RP_CLIENT_ID": settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": settings.OIDC_SCOPES,
        "OIDC_RP_SIGN_ALGO": settings.OIDC_SIGN_ALGO,
        "OIDC_TIMEOUT": settings.OIDC_TIMEOUT,
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_CREATE_USER": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc-callback",
        "LOGIN_REDIRECT_URL_FAILURE": settings.LOGIN_URL,
    }
    if attr in derived:
        return derived[attr]
    return import_from_settings(attr, *default)


def is_true(value: Any) -> bool:
    """A claim's boolean: some providers (e.g. Cognito) send ``"true"`` as text."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class OidcBackend(OIDCAuthenticationBackend):
    """Answers only our callback (it passes ``nonce``); every other ``authenticate()`` gets None."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's __init__: it reads the endpoints, and Django makes this backend for
        # every authenticate() and every request of a user it signed in. Ours are read by
        # discovery in authenticate(), at the callback only.
        self.UserModel = get_user_model()
        self.use_basic_auth = False

    def get_settings(self, attr: str, *default: Any) -> Any:  # type: ignore[override]
        if attr == "OIDC_TOKEN_USE_BASIC_AUTH":
            return self.use_basic_auth
        return oidc_setting(attr, *default)

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        nonce: str | None = None,
        code_verifier: str | None = None,
        **credentials: Any,
    ) -> Any:
        if credentials or nonce is None or request is None or not enabled():
            return None
        doc = discovery()
        self.OIDC_OP_TOKEN_ENDPOINT = doc["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = doc.get("userinfo_endpoint")
        self.OIDC_OP_JWKS_ENDPOINT = doc["jwks_uri"]
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        # RFC 6749 §2.3.1 and OpenID Connect Discovery: client_secret_basic is the default when
        # the provider lists nothing; client_secret_post only when it is all the provider takes.
        methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        self.use_basic_auth = "client_secret_basic" in methods
        return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        payload["redirect_uri"] = callback_url(self.request)  # the same one the login view sent
        return super().get_token(payload)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library checks the signature, expiry and nonce; the issuer and audience are checked here."""
        payload = super().verify_token(token, **kwargs)
        if payload.get("iss") != settings.OIDC_ISSUER:
            raise SuspiciousOperation(f"id_token issued by {payload.get('iss')!r}, not {settings.OIDC_ISSUER!r}")
        audience = payload.get("aud")
        audience = [audience] if isinstance(audience, str) else audience or []
        if settings.OIDC_CLIENT_ID not in audience:
            raise SuspiciousOperation("id_token is not for this client")
        if len(audience) > 1 and payload.get("azp") != settings.OIDC_CLIENT_ID:
            raise SuspiciousOperation("id_token's azp is not this client")
        if not payload.get("sub"):
            raise SuspiciousOperation("id_token has no sub")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT and access_token:
            info = self.get_userinfo(access_token, id_token, payload)
            # OpenID Connect Core §5.3.2: userinfo of another sub must not be used.
            if not isinstance(info, dict) or str(info.get("sub")) != str(payload["sub"]):
                raise SuspiciousOperation("userinfo is not of the id_token's sub")
            claims.update(info)
        try:
            return sign_in(self.request, claims)
        except OidcRefused as exc:
            self.request.oidc_refusal = str(exc)  # type: ignore[union-attr]  # shown by the callback view
            return None


def sign_in(request: HttpRequest, claims: dict[str, Any]) -> Any:
    """The user these verified claims sign in as (found, linked or made), memberships in step."""
    issuer, sub = settings.OIDC_ISSUER, str(claims["sub"])
    identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, sub=sub).first()
    user = identity.user if identity is not None else link_or_create(claims, issuer, sub)
    if not user.is_active:
        raise OidcRefused("This account is disabled.")
    if settings.OIDC_TEAMS_CLAIM:
        # audit.record() reads the actor from request.user: here, the user signing in.
        actor = SimpleNamespace(user=user, META=request.META)
        sync_claim_memberships(user, claims.get(settings.OIDC_TEAMS_CLAIM), request=actor)
    return user


def link_or_create(claims: dict[str, Any], issuer: str, sub: str) -> Any:
    """A first sign-in of (issuer, sub): link it to the user with its e-mail if allowed, else make one."""
    User = get_user_model()
    email = str(claims.get("email") or "").strip()
    if email:
        existing = list(User.objects.filter(email__iexact=email)[:2])
        if existing:
            if not settings.OIDC_LINK_BY_EMAIL:
                log.warning("oidc refused reason=email-taken sub=%s email=%s", sub, email)
                raise OidcRefused(
                    f"An account with the e-mail {email} already exists. Sign in with its password; "
                    "single sign-on cannot take it over."
                )
            if not is_true(claims.get("email_verified")):
                log.warning("oidc refused reason=email-unverified sub=%s email=%s", sub, email)
                raise OidcRefused(
                    f"An account with the e-mail {email} already exists, and the sign-on provider "
                    "has not verified that this e-mail is yours."
                )
            if len(existing) > 1 or existing[0].oidc_identities.filter(issuer=issuer).exists():
                # Two accounts share the address, or the account is already another identity's.
                log.warning("oidc refused reason=email-ambiguous sub=%s email=%s", sub, email)
                raise OidcRefused(f"The e-mail {email} cannot be linked to single sign-on; ask an administrator.")
            OidcIdentity.objects.create(user=existing[0], issuer=issuer, sub=sub)
            log.info("oidc linked user=%s sub=%s", existing[0].pk, sub)
            return existing[0]
    try:
        with transaction.atomic():
            user = User(username=free_username(claims, email), email=email)
            user.first_name = str(claims.get("given_name") or "")[:150]
            user.last_name = str(claims.get("family_name") or "")[:150]
            user.set_unusable_password()
            user.save()  # authentication.teams makes the personal team
            OidcIdentity.objects.create(user=user, issuer=issuer, sub=sub)
    except IntegrityError:
        # The same first sign-in in two tabs at once: the other made the user.
        identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, sub=sub).first()
        if identity is None:
            raise
        return identity.user
    log.info("oidc created user=%s sub=%s", user.pk, sub)
    return user


def free_username(claims: dict[str, Any], email: str) -> str:
    """``preferred_username`` (else the e-mail's local part) made a free Django username."""
    User = get_user_model()
    wanted = str(claims.get("preferred_username") or email.partition("@")[0] or "user")
    base = USERNAME_UNWANTED.sub("", wanted)[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name
