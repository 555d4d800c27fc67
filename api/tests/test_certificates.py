"""The certificate API: a server's latest check (and checking now), and the read-only history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import CertificateCheck
from monitoring.tests.factories import make_server
from tests.crud import CrudCases

pytestmark = pytest.mark.django_db


def make_check(server, **fields) -> CertificateCheck:
    values = {
        "valid": True,
        "expires_at": timezone.now() + timedelta(days=60),
        "days_remaining": 60,
        "issuer": "CN=R11, O=Let's Encrypt",
        "subject": "CN=example.com",
    }
    values.update(fields)
    return CertificateCheck.objects.create(server=server, **values)


class TestCertificateChecksReadOnly(CrudCases):
    url = "/api/certificates/"
    model = CertificateCheck
    update_payload = {"valid": False}
    read_only = True

    def make(self, owner):
        return make_check(make_server(owner))


# --- GET/POST /api/servers/{id}/certificate/


def test_it_returns_the_latest_completed_check_of_a_server(alice, alice_client):
    server = make_server(alice)
    make_check(server, checked_at=timezone.now() - timedelta(days=1), days_remaining=61)
    latest = make_check(server, days_remaining=60, needs_renewal=False)
    make_check(server, in_progress=True)  # a scheduler's claim still probing: not a result yet
    r = alice_client.get(f"/api/servers/{server.pk}/certificate/")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == latest.pk and body["server"] == server.pk and body["server_name"] == "web"
    assert body["valid"] is True and body["days_remaining"] == 60 and body["needs_renewal"] is False
    assert body["issuer"] == "CN=R11, O=Let's Encrypt" and body["subject"] == "CN=example.com"
    assert set(body) == {
        "id",
        "server",
        "server_name",
        "checked_at",
        "valid",
        "expires_at",
        "days_remaining",
        "issuer",
        "subject",
        "needs_renewal",
        "error",
        "fingerprint_sha256",
    }


def test_it_returns_404_before_the_first_check(alice, alice_client):
    server = make_server(alice)
    r = alice_client.get(f"/api/servers/{server.pk}/certificate/")
    assert r.status_code == 404 and r.json() == {"detail": "No certificate check yet."}


def test_it_returns_404_for_another_users_server(alice, charlie_client):
    server = make_server(alice)
    make_check(server)
    assert charlie_client.get(f"/api/servers/{server.pk}/certificate/").status_code == 404
    assert charlie_client.post(f"/api/servers/{server.pk}/certificate/").status_code == 404
    assert CertificateCheck.objects.count() == 1


def test_staff_see_any_servers_certificate(alice, bob_client):
    server = make_server(alice)
    check = make_check(server)
    assert bob_client.get(f"/api/servers/{server.pk}/certificate/").json()["id"] == check.pk


def test_post_checks_the_certificate_now_and_stores_it(alice, alice_client, https_target):
    server = make_server(alice, host="127.0.0.1", port=https_target.port, timeout=5)
    r = alice_client.post(f"/api/servers/{server.pk}/certificate/")
    assert r.status_code == 200, r.content
    row = CertificateCheck.objects.get(server=server)
    assert r.json()["id"] == row.pk
    assert row.valid is False and "self-signed certificate" in row.error and row.expires_at is not None


def test_refresh_1_checks_now_too(alice, alice_client, https_target):
    server = make_server(alice, host="127.0.0.1", port=https_target.port, timeout=5)
    make_check(server, checked_at=timezone.now() - timedelta(hours=1))
    r = alice_client.get(f"/api/servers/{server.pk}/certificate/?refresh=1")
    assert r.status_code == 200
    assert r.json()["issuer"] == "CN=localhost"
    assert CertificateCheck.objects.filter(server=server).count() == 2


def test_a_bad_refresh_value_is_400(alice, alice_client):
    server = make_server(alice)
    r = alice_client.get(f"/api/servers/{server.pk}/certificate/?refresh=maybe")
    assert r.status_code == 400 and "refresh" in r.json()
    assert not CertificateCheck.objects.exists()


def test_checking_a_non_https_server_is_400(alice, alice_client):
    server = make_server(alice, protocol="tcp", host="127.0.0.1", port=5432)
    r = alice_client.post(f"/api/servers/{server.pk}/certificate/")
    assert r.status_code == 400 and r.json() == {
        "detail": "Certificate checks are for https servers, and smtp servers with TLS."
    }
    assert not CertificateCheck.objects.exists()


# --- GET /api/certificates/


def ids(client, query: str = "") -> set[int]:
    r = client.get(f"/api/certificates/{query}")
    assert r.status_code == 200, r.content
    return {row["id"] for row in r.json()["results"]}


def test_the_list_filters_by_server_valid_and_needs_renewal(alice, alice_client):
    a, b = make_server(alice, name="a"), make_server(alice, name="b")
    good = make_check(a)
    bad = make_check(b, valid=False, error="self-signed certificate")
    soon = make_check(b, days_remaining=3, needs_renewal=True)
    assert ids(alice_client, f"?server={a.pk}") == {good.pk}
    assert ids(alice_client, "?valid=false") == {bad.pk}
    assert ids(alice_client, "?valid=true") == {good.pk, soon.pk}
    assert ids(alice_client, "?needs_renewal=true") == {soon.pk}
    assert ids(alice_client, "?needs_renewal=false&server=" + str(b.pk)) == {bad.pk}


def test_latest_keeps_each_servers_newest_check(alice, alice_client):
    a, b = make_server(alice, name="a"), make_server(alice, name="b")
    old = timezone.now() - timedelta(days=1)
    make_check(a, checked_at=old, needs_renewal=True)
    newest_a = make_check(a)
    newest_b = make_check(b, needs_renewal=True)
    make_check(b, in_progress=True)
    assert ids(alice_client, "?latest=true") == {newest_a.pk, newest_b.pk}
    assert ids(alice_client, "?latest=true&needs_renewal=true") == {newest_b.pk}
    assert len(ids(alice_client)) == 3


def test_the_list_hides_claims_still_in_progress(alice, alice_client):
    server = make_server(alice)
    claim = make_check(server, in_progress=True)
    assert claim.pk not in ids(alice_client)
    assert alice_client.get(f"/api/certificates/{claim.pk}/").status_code == 404


def test_filtering_by_another_users_server_shows_nothing(alice, charlie, charlie_client):
    server = make_server(alice)
    make_check(server)
    r = charlie_client.get(f"/api/certificates/?server={server.pk}")
    assert r.status_code == 200 and r.json()["results"] == []


def test_the_list_costs_the_same_queries_for_many_rows(alice, alice_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert alice_client.get("/api/certificates/").status_code == 200
        return len(ctx.captured_queries)

    make_check(make_server(alice, name="one"))
    few = queries()
    for n in range(6):
        make_check(make_server(alice, name=f"s{n}"))
    assert queries() == few


# --- Admin


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-password-1"))
    return client


def test_the_admin_lists_certificate_checks_with_filters_and_search(admin_client, alice):
    make_check(make_server(alice, name="findme"), needs_renewal=True)
    make_check(make_server(alice, name="elsewhere"))
    r = admin_client.get("/admin/monitoring/certificatecheck/?q=findme&valid__exact=1&needs_renewal__exact=1")
    assert r.status_code == 200
    page = r.content.decode()
    assert "findme" in page and "elsewhere" not in page


def test_the_server_admin_page_shows_the_latest_certificate(admin_client, alice):
    server = make_server(alice)
    make_check(server, days_remaining=42)
    page = admin_client.get(f"/admin/monitoring/server/{server.pk}/change/").content.decode()
    assert "Latest certificate check" in page and "42 day(s) left" in page


def test_the_check_certificate_action_checks_https_servers(admin_client, alice, https_target):
    server = make_server(alice, host="127.0.0.1", port=https_target.port, timeout=5)
    plain = make_server(alice, name="plain", protocol="http", host="127.0.0.1", port=https_target.port)
    r = admin_client.post(
        "/admin/monitoring/server/",
        {"action": "check_certificate_now", "_selected_action": [server.pk, plain.pk]},
        follow=True,
    )
    assert r.status_code == 200
    page = r.content.decode()
    assert "Plain: not https" in page and "Web: invalid (self-signed certificate; 29 day(s) left)" in page
    assert list(CertificateCheck.objects.values_list("server_id", flat=True)) == [server.pk]
