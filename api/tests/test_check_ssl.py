"""GET /api/check-ssl/ (SPEC §13): an ad-hoc certificate check against TLS targets on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from conftest import require_postgres
from monitoring.models import CertificateCheck
from monitoring.services.engine import certificates
from tests.certs import make_ca
from tests.targets import LocalHTTPSServer

pytestmark = pytest.mark.django_db
FIELDS = {"valid", "expiry_date", "days_remaining", "issuer", "subject", "needs_renewal", "error"}


def check_ssl(client, url: str):
    return client.get("/api/check-ssl/", {"url": url})


def test_a_trusted_certificate_is_described(alice_client, tmp_path):
    ca = make_ca(str(tmp_path))
    expiry = timezone.now() + timedelta(days=10, hours=1)
    with (
        override_settings(CERT_CA_BUNDLE=ca.bundle_path),
        LocalHTTPSServer(*ca.issue(str(tmp_path), not_after=expiry)) as target,
    ):
        response = check_ssl(alice_client, f"https://127.0.0.1:{target.port}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == FIELDS
    assert body["valid"] is True and body["error"] == "" and body["days_remaining"] == 10
    assert body["needs_renewal"] is True  # CERT_RENEWAL_DAYS = 14
    assert body["issuer"] == "CN=PulseGuard Test CA, O=PulseGuard Tests" and body["subject"] == "CN=localhost"
    assert body["expiry_date"].startswith(f"{expiry:%Y-%m-%dT%H:%M}")
    assert not CertificateCheck.objects.exists()  # ad hoc: nothing stored


def test_a_self_signed_certificate_is_invalid_with_the_reason(alice_client, https_target):
    body = check_ssl(alice_client, f"https://localhost:{https_target.port}/some/path").json()
    assert body["valid"] is False and "self-signed certificate" in body["error"] and body["days_remaining"] == 29


def test_nothing_listening_is_an_answer_not_an_error(alice_client, tcp_closed_port):
    response = check_ssl(alice_client, f"https://127.0.0.1:{tcp_closed_port}")
    assert response.status_code == 200
    assert response.json()["valid"] is False and response.json()["error"].startswith("connection failed")


@pytest.mark.parametrize(
    "url",
    ["http://example.com", "example.com", "ftp://example.com", "https://", "https://exa mple.com", "https://a:b@example.com",
     "https://example.com:99999", "https://example.com:abc", ""],
)  # fmt: skip
def test_a_url_that_is_not_https_or_not_valid_is_400(alice_client, url):
    response = check_ssl(alice_client, url)
    assert response.status_code == 400 and "url" in response.json(), response.json()


def test_a_missing_url_is_400(alice_client):
    assert alice_client.get("/api/check-ssl/").status_code == 400


def test_it_needs_a_login(anon_client):
    assert check_ssl(anon_client, "https://example.com").status_code == 401


def test_the_private_address_guard_applies(alice_client, https_target):
    with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False):
        for host in ("127.0.0.1", "localhost", "[::1]"):
            response = check_ssl(alice_client, f"https://{host}:{https_target.port}")
            assert response.status_code == 400, host
            [message] = response.json()["url"]
            assert "a private or reserved address; set MONITOR_ALLOW_PRIVATE_TARGETS=true" in message
    assert https_target.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_check_holds_no_database_connection_during_its_handshake(alice_client, https_target, monkeypatch):
    require_postgres()  # SQLite's in-memory test database ignores close()
    connected: list[bool] = []
    real = certificates.inspect

    def spy(*args, **kwargs):
        connected.append(connection.connection is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(certificates, "inspect", spy)
    r = alice_client.get(f"/api/check-ssl/?url=https://127.0.0.1:{https_target.port}/")
    assert r.status_code == 200 and connected == [False]  # given back before the handshake (SPEC §23)
