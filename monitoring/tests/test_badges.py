"""Badges (SPEC §15): SVG and shields.io JSON for servers on a public page, 404 otherwise."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from monitoring import badges
from monitoring.models import Server, StatusPage
from monitoring.services.engine import checks
from monitoring.tests.factories import make_outcome, make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def shown(alice) -> Server:
    server = make_server(alice, name="Shop")
    checks.record_outcome(server, make_outcome(ok=True))
    page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True)
    page.servers.add(server)
    return server


def test_badge_keys_are_unguessable_read_only_and_distinct(alice, alice_client):
    a, b = make_server(alice), make_server(alice, name="other")
    assert a.badge_key != b.badge_key and len(a.badge_key) >= 32
    r = alice_client.patch(f"/api/servers/{a.pk}/", {"badge_key": "chosen"}, format="json")
    assert r.status_code == 200 and r.json()["badge_key"] == a.badge_key


@pytest.mark.parametrize("path", ["status.svg", "uptime.svg", "uptime.svg?window=90d", "response.svg"])
def test_svg_badges_are_served_short_cached(shown, path):
    r = Client().get(f"/badge/{shown.badge_key}/{path}")
    assert r.status_code == 200 and r["Content-Type"] == "image/svg+xml"
    max_age = int(re.search(r"max-age=(\d+)", r["Cache-Control"]).group(1))
    assert 0 < max_age <= 60
    assert r.content.startswith(b"<svg") and b"</svg>" in r.content


def test_the_status_badge_says_the_status(shown):
    svg = Client().get(f"/badge/{shown.badge_key}/status.svg").content.decode()
    assert ">up</text>" in svg and badges.COLOURS["brightgreen"] in svg
    assert ">100%</text>" in Client().get(f"/badge/{shown.badge_key}/uptime.svg?window=7d").content.decode()
    assert ">uptime 7d</text>" in Client().get(f"/badge/{shown.badge_key}/uptime.svg?window=7d").content.decode()
    assert ">20 ms</text>" in Client().get(f"/badge/{shown.badge_key}/response.svg").content.decode()


def test_shields_json_is_the_endpoint_format(shown):
    r = Client().get(f"/badge/{shown.badge_key}/shields.json")
    assert r.status_code == 200
    assert r.json() == {"schemaVersion": 1, "label": "status", "message": "up", "color": "brightgreen"}
    uptime = Client().get(f"/badge/{shown.badge_key}/shields.json?kind=uptime&window=30d").json()
    assert uptime["label"] == "uptime 30d" and uptime["message"] == "100%"


def test_a_server_on_no_public_page_has_no_badges(alice):
    hidden = make_server(alice)
    private = StatusPage.objects.create(owner=alice, slug="private", title="P", is_public=False)
    private.servers.add(hidden)
    for path in ["status.svg", "uptime.svg", "response.svg", "shields.json"]:
        assert Client().get(f"/badge/{hidden.badge_key}/{path}").status_code == 404


def test_a_server_shown_through_a_tag_has_badges(alice):
    server = make_server(alice, tags=["public"])
    StatusPage.objects.create(owner=alice, slug="tagged", title="T", is_public=True, tags=["public"])
    assert Client().get(f"/badge/{server.badge_key}/status.svg").status_code == 200


def test_unknown_keys_and_windows_are_404(shown):
    assert Client().get("/badge/not-a-key/status.svg").status_code == 404
    assert Client().get(f"/badge/{shown.badge_key}/uptime.svg?window=1y").status_code == 404
    assert Client().get(f"/badge/{shown.badge_key}/shields.json?kind=secret").status_code == 404


def test_the_message_box_grows_with_its_text():
    short = badges.render_svg("status", "up", "brightgreen")
    long = badges.render_svg("status", "maintenance", "blue")
    width = lambda svg: int(re.search(r'width="(\d+)"', svg).group(1))  # noqa: E731
    assert width(long) - width(short) == pytest.approx(
        badges.text_width("maintenance") - badges.text_width("up"), abs=2
    )
    assert "&lt;b&gt;" in badges.render_svg("x", "<b>", "red")


def test_a_badge_answers_404_at_once_when_its_page_is_made_private(shown, alice_client):
    assert Client().get(f"/badge/{shown.badge_key}/status.svg").status_code == 200  # cached now
    page = StatusPage.objects.get(slug="acme")
    r = alice_client.patch(f"/api/status-pages/{page.pk}/", {"is_public": False}, format="json")
    assert r.status_code == 200
    assert Client().get(f"/badge/{shown.badge_key}/status.svg").status_code == 404
    assert Client().get(f"/badge/{shown.badge_key}/shields.json").status_code == 404


def test_a_badge_follows_the_server_off_and_onto_a_page_at_once(shown, alice):
    page = StatusPage.objects.get(slug="acme")
    assert Client().get(f"/badge/{shown.badge_key}/status.svg").status_code == 200
    page.servers.remove(shown)
    assert Client().get(f"/badge/{shown.badge_key}/status.svg").status_code == 404
    shown.tags = ["public"]
    shown.save()
    page.tags = ["public"]
    page.save()
    assert Client().get(f"/badge/{shown.badge_key}/status.svg").status_code == 200


def test_the_status_badge_follows_a_status_change_at_once(shown, django_capture_on_commit_callbacks):
    assert ">up</text>" in Client().get(f"/badge/{shown.badge_key}/status.svg").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        checks.record_outcome(shown, make_outcome(ok=False))
    assert ">down</text>" in Client().get(f"/badge/{shown.badge_key}/status.svg").content.decode()
