"""GET / — the dashboard: login required, the user's own servers, wired to /ws/status/."""

from __future__ import annotations

import pytest
from django.test import Client

from monitoring.choices import PingStatus
from monitoring.models import Server
from monitoring.services.engine import checks
from monitoring.services.engine.transitions import ProbeOutcome


@pytest.fixture
def servers(alice, charlie) -> dict[str, Server]:
    return {
        "mine": Server.objects.create(owner=alice, name="alice-api", host="api.example.com"),
        "theirs": Server.objects.create(owner=charlie, name="charlie-shop", host="shop.example.com"),
    }


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_users_are_redirected_to_the_login_page(servers):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_it_renders_the_users_own_servers_and_not_others(servers, alice):
    checks.record_outcome(servers["mine"], ProbeOutcome(status=PingStatus.SUCCESS, response_time=42.0))
    response = logged_in(alice).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-server-id="{servers["mine"].pk}"' in html and "alice-api" in html
    assert "charlie-shop" not in html and f'data-server-id="{servers["theirs"].pk}"' not in html
    assert '<span class="status up">up</span>' in html and "100.00 %" in html and "42 ms" in html
    assert "pulseguard/dashboard.js" in html  # which follows /ws/status/


def test_staff_see_every_server(servers, bob):
    html = logged_in(bob).get("/").content.decode()
    assert "alice-api" in html and "charlie-shop" in html


def test_a_regular_user_signs_in_on_the_login_page(servers, alice):
    client = Client()
    assert client.get("/accounts/login/?next=/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "alice-api" in client.get("/").content.decode()
