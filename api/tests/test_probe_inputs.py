"""The six inputs of the 2026-12-03 probe that still made a 5xx (issue 14, D.27): each a 4xx now."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

SERVER = {"name": "Shop", "protocol": "http", "host": "shop.example.com"}


def test_json_nested_5000_deep_to_the_config_import_is_400(alice_client):
    body = '{"version": 1, "servers": ' + "[" * 5000 + "]" * 5000 + "}"
    r = alice_client.post("/api/config/import/", body, content_type="application/json")
    assert r.status_code == 400 and "nested" in r.json()["detail"]


def test_yaml_nested_5000_deep_to_the_config_import_is_400(alice_client):
    body = "version: 1\nservers: " + "[" * 5000 + "]" * 5000 + "\n"
    r = alice_client.post("/api/config/import/", body, content_type="application/yaml")
    assert r.status_code == 400 and "nested" in r.json()["detail"]


@pytest.mark.parametrize("key", ["1", "null", "~", "2026-12-03"])
def test_yaml_request_headers_with_a_non_string_key_is_400(alice_client, key):
    body = f"version: 1\nservers:\n- name: Shop\n  host: shop.example.com\n  request_headers:\n    {key}: x\n"
    r = alice_client.post("/api/config/import/?dry_run=true", body, content_type="application/yaml")
    assert r.status_code == 400, r.content
    assert "line 6, column 5" in r.json()["detail"] and "is not a string; quote it" in r.json()["detail"]


@pytest.mark.parametrize("field", ["notification_type", "recipient"])
@pytest.mark.parametrize("value", [["email"], {"a": "b"}])
def test_an_imported_notification_config_with_a_list_or_object_type_or_recipient_is_400(alice_client, field, value):
    config = {"notification_type": "email", "recipient": "ops@example.com", field: value}
    doc = {"version": 1, "servers": [{**SERVER, "notification_configs": [config]}]}
    r = alice_client.post("/api/config/import/", doc, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()["servers"][0]["errors"]["notification_configs"][0]["errors"]


def test_check_ssl_with_an_unclosed_ipv6_bracket_is_400(alice_client):
    r = alice_client.get("/api/check-ssl/", {"url": "https://[::1"})
    assert r.status_code == 400 and "url" in r.json()


def test_an_anonymous_push_with_a_nul_in_the_token_is_404(anon_client):
    # PostgreSQL refuses a NUL in a query (500 there); the token is refused before any query.
    r = anon_client.get("/api/push/a%00b/")
    assert r.status_code == 404 and r.json()["ok"] is False
