"""The one-click ack link (SPEC §18): GET shows the incident and acknowledges nothing, the
button's POST acknowledges, and a forged, expired or closed-incident token answers 404."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.test import Client

from monitoring.models import Incident
from monitoring.services.alerts import ack
from monitoring.services.alerts.ack import ack_url_for
from monitoring.tests.alerting import go_down, go_up, make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(alice) -> Incident:
    server = make_server(alice, name="shop <api>")
    go_down(server)
    return Incident.objects.get(server=server)


def path_of(incident: Incident) -> str:
    return "/ack/" + ack_url_for(incident).split("/ack/", 1)[1]


def test_get_shows_the_incident_and_acknowledges_nothing(incident):
    client = Client(enforce_csrf_checks=True)
    r = client.get(path_of(incident))
    assert r.status_code == 200
    page = r.content.decode()
    assert "shop &lt;api&gt; is down" in page and 'id="ack"' in page and 'method="post"' in page
    assert r["Cache-Control"].startswith("max-age=0") or "no-cache" in r["Cache-Control"]
    client.get(path_of(incident))  # a mail scanner fetching it twice
    incident.refresh_from_db()
    assert incident.acknowledged_at is None and [e["kind"] for e in incident.timeline] == ["opened"]


def test_the_buttons_post_acknowledges_without_a_login(incident):
    client = Client(enforce_csrf_checks=True)
    path = path_of(incident)
    page = client.get(path).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    r = client.post(path, {"csrfmiddlewaretoken": token, "note": "rebooting it"})
    assert r.status_code == 200 and "Acknowledged." in r.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None and incident.acknowledged_by is None
    assert incident.timeline[-1]["kind"] == "acknowledged"
    assert incident.timeline[-1]["note"] == "rebooting it" and incident.timeline[-1]["by"] == "the link in an alert"
    again = client.get(path)
    assert again.status_code == 200 and "Already acknowledged" in again.content.decode()


def test_a_signed_in_user_is_named_as_who_acknowledged(incident, alice):
    client = Client()
    client.force_login(alice)
    assert client.post(path_of(incident), {"note": ""}).status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_by == alice and incident.timeline[-1]["by"] == "alice"


def test_a_post_without_the_csrf_token_is_refused(incident):
    r = Client(enforce_csrf_checks=True).post(path_of(incident), {})
    assert r.status_code == 403
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


@pytest.mark.parametrize("token", ["forged", "MQ:1a2b3c:xyz", "%00", "x" * 500])
def test_a_forged_token_is_a_404(client, incident, token):
    assert client.get(f"/ack/{token}/").status_code == 404
    assert client.post(f"/ack/{token}/", {}).status_code == 404


def test_a_token_for_another_incident_cannot_be_made_by_editing_the_id(client, incident):
    token = path_of(incident).split("/")[2]
    pk, rest = token.split(":", 1)
    assert client.get(f"/ack/{pk}0:{rest}/").status_code == 404


def test_an_expired_token_is_a_404(client, incident):
    path = path_of(incident)
    with mock.patch.object(ack, "MAX_AGE_SECONDS", -1):
        assert client.get(path).status_code == 404


def test_a_closed_incidents_token_is_a_404(client, incident):
    path = path_of(incident)
    go_up(incident.server)
    assert client.get(path).status_code == 404
    assert client.post(path, {}).status_code == 404


def test_the_incident_list_page_needs_a_login_and_loads_its_scripts(client, alice):
    assert client.get("/incidents/").status_code == 302
    client.force_login(alice)
    r = client.get("/incidents/")
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="incidents-open"' in page and "pulseguard/incident.js" in page and "pulseguard/incidents.js" in page
