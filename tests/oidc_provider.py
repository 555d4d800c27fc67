"""A small OpenID Connect provider on 127.0.0.1 for the single sign-on tests.

It serves discovery, JWKS (an RSA key made here), ``/authorize`` (no login page: it sends the
browser straight back with a code, the state echoed and the nonce kept for the id_token),
``/token`` (the code, the client's secret and the PKCE verifier checked; an id_token signed
RS256 with the claims the test set) and ``/userinfo``. ``provider.claims`` are the claims of
the next sign-in; ``provider.requests`` lists what was asked of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class OidcProvider:
    CLIENT_ID = "pulseguard"
    CLIENT_SECRET = "provider-test-secret"
    KID = "test-key-1"

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.claims: dict[str, Any] = {"sub": "user-1", "email": "sso@example.com", "email_verified": True}
        #: Overrides of the id_token's own claims (iss, aud, …) to test what the client refuses.
        self.token_overrides: dict[str, Any] = {}
        self.requests: list[str] = []
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self, **extra: str) -> dict[str, str]:
        """The settings (or environment) that point PulseGuard at this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": self.CLIENT_ID,
            "OIDC_CLIENT_SECRET": self.CLIENT_SECRET,
            **extra,
        }

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": self.CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **grant["claims"],
            **self.token_overrides,
        }
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.KID})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                provider.requests.append(f"GET {url.path}")
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self.answer(200, provider.discovery())
                elif url.path == "/jwks":
                    self.answer(200, provider.jwks())
                elif url.path == "/authorize":
                    self.authorize(query)
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    grant = provider.access_tokens.get(token)
                    self.answer(200, grant["claims"]) if grant else self.answer(401, {"error": "invalid_token"})
                else:
                    self.answer(404, {"error": "not_found"})

            def authorize(self, query: dict[str, str]) -> None:
                if query.get("client_id") != provider.CLIENT_ID or query.get("response_type") != "code":
                    self.answer(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {
                    "claims": dict(provider.claims),
                    "nonce": query.get("nonce"),
                    "redirect_uri": query["redirect_uri"],
                    "code_challenge": query.get("code_challenge"),
                    "scope": query.get("scope", ""),
                }
                back = {"code": code, "state": query["state"]}
                self.answer(302, headers={"Location": f"{query['redirect_uri']}?{urlencode(back)}"})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                provider.requests.append(f"POST {url.path}")
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if url.path != "/token":
                    self.answer(404, {"error": "not_found"})
                    return
                client_id, secret = form.get("client_id"), form.get("client_secret")
                basic = self.headers.get("Authorization", "")
                if basic.startswith("Basic "):
                    client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
                if client_id != provider.CLIENT_ID or secret != provider.CLIENT_SECRET:
                    self.answer(401, {"error": "invalid_client"})
                    return
                grant = provider.codes.pop(form.get("code", ""), None)  # a code is used once
                if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                    self.answer(400, {"error": "invalid_grant"})
                    return
                if grant["code_challenge"]:
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
                        self.answer(400, {"error": "invalid_grant", "error_description": "PKCE"})
                        return
                access = secrets.token_urlsafe(16)
                provider.access_tokens[access] = grant
                self.answer(
                    200,
                    {
                        "access_token": access,
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": provider.id_token(grant),
                    },
                )

        return Handler
