"""No request makes a 500: odd ids, NUL characters, huge numbers and garbage query strings."""

from __future__ import annotations

import pytest

from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db

LISTS = ["/api/servers/", "/api/ping-results/", "/api/server-status/", "/api/notification-configs/"]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    "query",
    [
        "search=%00",
        "tag=%00",
        "status=%00",
        "server=%00",
        "since=%00",
        "server=99999999999999999999",
        "ordering=%00",
        "page=abc",
        "page=99999999999999999999",
        "cursor=garbage",
        "page_size=-1",
        "server=-5",
        "tag=" + "x" * 5000,
    ],
)
def test_odd_query_strings_never_make_a_500(alice, alice_client, url, query):
    server = make_server(alice)
    make_ping(server)
    r = alice_client.get(f"{url}?{query}")
    assert r.status_code in (200, 400, 404), (url, query, r.status_code, r.content[:300])


@pytest.mark.parametrize("url", [*LISTS])
@pytest.mark.parametrize("pk", ["abc", "99999999999999999999", "-1", "0", "%00"])
def test_odd_ids_are_404(alice_client, url, pk):
    assert alice_client.get(f"{url}{pk}/").status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        {"keyword": "a\x00b"},
        {"path": "/a\x00"},
        {"tags": ["ok", "n\x00l"]},
        {"team": "a\x00b"},
        {"locations": ["lo\x00cal"]},
        {"timeout": "NaN"},
        {"degraded_threshold_ms": 10**20},
        {"check_interval": "sixty"},
        {"retries": 10**12},
    ],
)
def test_bad_server_fields_are_400_and_nothing_changes(alice, alice_client, payload):
    server = make_server(alice, keyword="kw")
    r = alice_client.patch(f"/api/servers/{server.pk}/", payload, format="json")
    assert r.status_code == 400, r.content
    assert set(payload) <= set(r.json())
    server.refresh_from_db()
    assert server.keyword == "kw" and server.tags == [] and server.check_interval == 60


@pytest.mark.parametrize("raw", ['{"timeout": 1e309}', '{"timeout": NaN}', '{"timeout": -Infinity}'])
def test_non_finite_numbers_are_400(alice, alice_client, raw):
    server = make_server(alice)
    r = alice_client.generic("PATCH", f"/api/servers/{server.pk}/", raw, content_type="application/json")
    assert r.status_code == 400, r.content
    server.refresh_from_db()
    assert server.timeout == 10


def test_malformed_json_is_a_400(alice_client):
    r = alice_client.generic("POST", "/api/servers/", "{not json", content_type="application/json")
    assert r.status_code == 400


def test_a_non_object_body_is_a_400(alice_client):
    r = alice_client.post("/api/servers/", [1, 2, 3], format="json")
    assert r.status_code == 400


@pytest.mark.parametrize("field", ["assertions", "request_headers", "cert_expiry_alert_days"])
@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_null_json_field_sent_as_a_form_is_a_400_and_nothing_changes(alice, alice_client, field, method):
    # Found by the fuzz run (bin/fuzz): multipart "assertions=null" reached the NOT NULL column as a 500.
    server = make_server(alice, name="kept")
    send = getattr(alice_client, method)
    r = send(f"/api/servers/{server.pk}/", {"name": "changed", field: "null"}, format="multipart")
    assert r.status_code == 400, r.content
    assert r.json()[field]  # the error is the field's, e.g. "This field may not be null."
    server.refresh_from_db()
    assert server.name == "kept"
