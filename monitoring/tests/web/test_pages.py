"""The operator's web pages (SPEC §16) as HTML: sign-up, filters and pages, ownership, no CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from monitoring.models import Server, ServerStatus
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_visitor_signs_up_and_lands_on_the_dashboard(db):
    client = Client()
    assert client.get("/accounts/register/").status_code == 200
    form = {
        "username": "newbie",
        "email": "newbie@example.com",
        "password": "a-long-passphrase-9",
        "password2": "a-long-passphrase-9",
    }
    r = client.post("/accounts/register/", form)
    assert r.status_code == 302 and r["Location"] == "/"
    assert User.objects.filter(username="newbie", email="newbie@example.com").exists()
    assert "No servers yet" in client.get("/").content.decode()


def test_sign_up_errors_appear_and_keep_what_was_typed(alice):
    form = {"username": "alice", "email": "not-an-email", "password": "123", "password2": "123"}
    r = Client().post("/accounts/register/", form)
    assert r.status_code == 400
    html = r.content.decode()
    assert 'value="alice"' in html and 'value="not-an-email"' in html
    assert html.count('class="error"') >= 3 and "123" not in re.findall(r'value="([^"]*)"', html)


def test_sign_up_refuses_two_different_passwords(db):
    form = {"username": "x", "email": "x@example.com", "password": "a-long-passphrase-9", "password2": "other"}
    assert Client().post("/accounts/register/", form).status_code == 400
    assert not User.objects.filter(username="x").exists()


def test_the_dashboard_filters_by_search_status_and_tag(alice):
    make_server(alice, name="shop-eu", tags=["prod"])
    down = make_server(alice, name="db-eu")
    Server.objects.filter(pk=down.pk).update(status="down")
    ServerStatus.objects.filter(server=down).update(status="down")
    make_server(alice, name="blog")
    client = logged_in(alice)
    names = lambda html: re.findall(r'<a href="/servers/\d+/">([^<]+)</a>', html)  # noqa: E731
    assert names(client.get("/?search=eu").content.decode()) == ["db-eu", "shop-eu"]
    assert names(client.get("/?status=down").content.decode()) == ["db-eu"]
    assert names(client.get("/?tag=prod").content.decode()) == ["shop-eu"]
    assert "No server matches" in client.get("/?search=nothing").content.decode()


def test_the_dashboard_pages_large_fleets(alice):
    Server.objects.bulk_create(
        [Server(owner=alice, team=alice.personal_team, name=f"s{i:04d}", host="example.com") for i in range(250)]
    )
    html = logged_in(alice).get("/?page=3").content.decode()
    assert html.count("data-server-id=") == 50 and "Page 3 of 3" in html


@pytest.mark.parametrize("path", ["/servers/{pk}/", "/servers/{pk}/edit/"])
def test_another_users_server_pages_are_404(alice, charlie, path):
    server = make_server(alice)
    assert logged_in(charlie).get(path.format(pk=server.pk)).status_code == 404
    assert logged_in(alice).get(path.format(pk=server.pk)).status_code == 200


@pytest.mark.parametrize("path", ["/", "/servers/new/", "/status-pages/", "/maintenance/", "/config/"])
def test_every_page_needs_a_login_and_loads_nothing_from_outside(alice, path):
    assert Client().get(path).status_code == 302
    html = logged_in(alice).get(path).content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_static_assets_are_served(alice):
    client = logged_in(alice)
    for name in ["app.js", "fields.js", "app.css", "dashboard.js", "server.js", "status-page.js", "maintenance.js"]:
        r = client.get(f"/static/pulseguard/{name}")
        assert r.status_code == 200, name


def test_a_push_servers_page_has_a_push_url_box_and_no_check_now(alice):
    push = make_server(alice, name="nightly", protocol="push", host="")
    html = logged_in(alice).get(f"/servers/{push.pk}/").content.decode()
    assert 'id="push-url"' in html and 'id="copy-push-url"' in html and 'id="new-push-url"' in html
    assert 'id="check-now"' not in html
    # The token reaches the page only through the API, never in the HTML itself.
    assert push.push_token and push.push_token not in html
    probed = make_server(alice, name="shop")
    html = logged_in(alice).get(f"/servers/{probed.pk}/").content.decode()
    assert 'id="check-now"' in html and 'id="push-url"' not in html


def test_the_nav_links_the_maintenance_page(alice):
    html = logged_in(alice).get("/maintenance/").content.decode()
    assert '<a href="/maintenance/" class="current" aria-current="page">Maintenance</a>' in html
    assert 'id="window-form"' in html and "pulseguard/maintenance.js" in html
    assert 'href="/maintenance/"' in logged_in(alice).get("/").content.decode()
