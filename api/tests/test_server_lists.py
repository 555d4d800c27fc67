"""The list endpoints' fast paths (issue 20): a page of servers read as rows, a page of statuses
with their locations read at once, answers exactly what the detail shows for each, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from authentication.models import Membership, Role, Team
from conftest import client_for
from monitoring.models import (
    EscalationPolicy,
    NotificationConfig,
    ProbeLocation,
    Server,
    ServerLocation,
    ServerStatus,
)
from monitoring.services.locations import servers as server_locations
from monitoring.tests.factories import make_server


@pytest.fixture
def rich(alice: Any) -> list[Server]:
    """Servers with every kind of field set: tags, headers, JSON, configs, dependencies,
    locations, a push monitor, an escalation policy, nulls, no owner, no status row."""
    team = alice.personal_team
    paris = ProbeLocation.objects.create(name="Paris", slug="paris", team=team)
    tokyo = ProbeLocation.objects.create(name="Tokyo", slug="tokyo", team=None)
    base = make_server(alice, name="base", protocol="tcp", host="db.example.com", port=5432)
    shop = make_server(
        alice, name="shop", host="shop.example.com", path="/cart", tags=["prod", "eu"], keyword="Welcome",
        method="POST", request_headers={"Authorization": "Bearer x", "X-A": "1"}, request_body='{"q": 1}',
        timeout=2.5, verify_tls=False, degraded_threshold_ms=900, cert_expiry_alert_days=[30, 7], is_active=False,
        assertions=[{"source": "status_code", "comparison": "equals", "target": "200"}], quorum=2,
        basic_auth_username="u", basic_auth_password="secret", smtp_starttls=True,
    )  # fmt: skip
    job = make_server(alice, name="job", protocol="push", host="", check_interval=300, grace_seconds=60)
    dns = make_server(alice, name="dns", protocol="dns", host="2001:db8::1", dns_record_type="AAAA", dns_expected=["x"])
    socket = make_server(alice, name="socket", protocol="websocket", host="ws.example.com", ws_tls=True, port=None)
    orphan = make_server(None, name="orphan", team=team, protocol="ping", host="10.0.0.1", tags=[])
    shop.depends_on.add(base, dns)
    job.depends_on.add(base)
    NotificationConfig.objects.create_for(shop, base, notification_type="email", recipient="a@example.com")
    NotificationConfig.objects.create_for(shop, notification_type="email", recipient="b@example.com")
    shop.escalation_policy = EscalationPolicy.objects.create(team=team, name="oncall", steps=[])
    shop.save()
    server_locations.set_locations(shop, [tokyo, paris])
    server_locations.set_locations(dns, [paris])
    ServerStatus.objects.filter(server=orphan).delete()
    ServerStatus.objects.filter(server=base).update(message="refused", uptime_percentage=99.5)
    return [base, shop, job, dns, socket, orphan]


def assert_page_is_each_detail(client: Any, servers: list[Server], query: str = "") -> None:
    page = client.get(f"/api/servers/{query}")
    assert page.status_code == 200
    listed = page.data["results"]
    assert [item["id"] for item in listed] == [s.pk for s in sorted(servers, key=lambda s: (s.name, s.pk))]
    for item in listed:
        detail = client.get(f"/api/servers/{item['id']}/")
        assert detail.data == item
        assert JSONRenderer().render(item) == detail.content  # the same bytes, number types included


def test_a_page_of_servers_is_what_their_serializer_shows(alice, rich):
    assert_page_is_each_detail(client_for(alice), rich)


def test_a_viewer_sees_the_page_redacted_as_each_server(alice, rich):
    dora = User.objects.create_user("dora", password="pw-long-enough-1")
    Membership.objects.create(team=alice.personal_team, user=dora, role=Role.VIEWER)
    client = client_for(dora)
    assert_page_is_each_detail(client, rich)
    shop = next(item for item in client.get("/api/servers/").data["results"] if item["name"] == "shop")
    assert shop["request_headers"] == {"Authorization": "••••", "X-A": "••••"}


def test_a_filtered_ordered_page_is_what_their_serializer_shows(alice, rich):
    client = client_for(alice)
    r = client.get("/api/servers/?ordering=-check_interval&protocol=push&protocol=dns&page_size=1&page=2")
    assert r.data["count"] == 2 and [item["name"] for item in r.data["results"]] == ["dns"]
    assert r.data["results"][0] == client.get(f"/api/servers/{r.data['results'][0]['id']}/").data


def test_another_teams_servers_are_not_listed(alice, charlie, rich):
    make_server(charlie, name="theirs")
    assert client_for(charlie).get("/api/servers/").data["count"] == 1
    ops = Team.objects.create(name="Ops", slug="ops")
    assert client_for(alice).get(f"/api/servers/?team={ops.slug}").status_code == 400


def test_a_page_of_statuses_is_what_their_serializer_shows(alice, rich):
    shop = next(s for s in rich if s.name == "shop")
    ServerLocation.objects.filter(server=shop, location__slug="paris").update(
        status="down", last_response_time=12.5, last_check=timezone.now()
    )
    ServerStatus.objects.filter(server__name="dns").update(last_check=timezone.now(), last_response_time=3.0)
    client = client_for(alice)
    page = client.get("/api/server-status/?ordering=server")
    listed = page.data["results"]
    assert [item["server_name"] for item in listed] == ["base", "dns", "job", "shop", "socket"]
    assert [place["slug"] for place in listed[3]["locations"]] == ["tokyo", "paris"]
    for item in listed:
        detail = client.get(f"/api/server-status/{item['id']}/")
        assert detail.data == item
        assert JSONRenderer().render(item) == detail.content
