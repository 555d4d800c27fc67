"""/api/health/ and the OpenAPI schema and docs, served without a CDN."""

from __future__ import annotations

from unittest import mock

import pytest

pytestmark = pytest.mark.django_db


def test_health_needs_no_login_and_reports_ok(anon_client):
    r = anon_client.get("/api/health/")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


def test_health_is_503_naming_what_failed(anon_client):
    with mock.patch("api.health.channel_layer_ok", autospec=True, return_value=False):
        r = anon_client.get("/api/health/")
    assert r.status_code == 503
    assert r.json() == {"status": "error", "database": "ok", "channel_layer": "failed"}


def test_the_schema_describes_the_contract(anon_client):
    r = anon_client.get("/api/schema/?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in [
        "/api/servers/",
        "/api/servers/{id}/check/",
        "/api/ping-results/",
        "/api/server-status/",
        "/api/notification-configs/",
        "/api/checks/run/",
        "/api/health/",
        "/api/auth/token/",
    ]:
        assert path in paths


def test_the_docs_page_loads_its_assets_locally(anon_client):
    r = anon_client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui" in html and "cdn." not in html and "//unpkg" not in html


def test_the_api_root_lists_resources(alice_client):
    body = alice_client.get("/api/").json()
    assert {"servers", "ping-results", "server-status", "notification-configs"} <= set(body)


def test_health_is_503_naming_the_database_when_it_cannot_take_writes(anon_client):
    # A full disk (or a read-only file system) still answers reads: only a write finds out.
    from django.db import connection

    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = ON")
        try:
            r = anon_client.get("/api/health/")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA query_only = OFF")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SET transaction_read_only = on")  # the test's transaction, rolled back after it
        r = anon_client.get("/api/health/")
    assert r.status_code == 503
    assert r.json() == {"status": "error", "database": "failed", "channel_layer": "ok"}
