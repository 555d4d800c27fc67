"""Offline locations (SPEC §20): detected once by one process, alerted once each way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from authentication.teams import personal_team
from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import LocationStatus, NotificationConfig, NotificationDelivery, ProbeLocation
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.alerts.notifiers.messages import notice_for
from monitoring.services.alerts.notifiers.registry import notifier_for
from monitoring.services.locations.status import came_back, went_offline
from monitoring.tasks.housekeeping import run_all
from monitoring.tasks.scheduler import Scheduler
from monitoring.tests.locations.agent_helpers import agent_client, checked_from, make_location
from tests.targets import LocalHTTPServer, Route


def silent_since(location: ProbeLocation, seconds: float) -> None:
    ProbeLocation.objects.filter(pk=location.pk).update(last_seen_at=timezone.now() - timedelta(seconds=seconds))


def config_of(owner: Any, recipient: str, events: list[str], **fields: Any) -> NotificationConfig:
    return NotificationConfig.objects.create(
        team=personal_team(owner),
        notification_type=fields.pop("notification_type", NotificationType.WEBHOOK),
        recipient=recipient,
        events=events,
        **fields,
    )


@pytest.mark.django_db
def test_a_silent_location_goes_offline_once_and_the_local_one_never(alice):
    location = make_location(alice)
    silent_since(location, 61)
    ProbeLocation.objects.local()
    ProbeLocation.objects.filter(slug="local").update(last_seen_at=timezone.now() - timedelta(days=1))
    heard = make_location(alice, "heard")
    silent_since(heard, 5)
    assert [loc.slug for loc in went_offline()] == ["eu-west"]
    assert went_offline() == [], "detected once"
    location.refresh_from_db()
    assert location.status == LocationStatus.OFFLINE and location.status_changed_at is not None
    assert ProbeLocation.objects.get(slug="local").status == LocationStatus.ONLINE


@pytest.mark.django_db
def test_a_location_no_agent_has_called_yet_is_never_alerted_offline(alice):
    fresh = make_location(alice)
    ProbeLocation.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert went_offline() == []
    silent_since(fresh, 120)  # once heard, then silent: offline
    assert [loc.slug for loc in went_offline()] == ["eu-west"]


@pytest.mark.django_db
def test_two_processes_seeing_it_at_once_move_it_once(alice):
    """The flip is a conditional UPDATE: a second process working from the same stale read loses."""
    location = make_location(alice)
    silent_since(location, 120)
    stale_read = ProbeLocation.objects.get(pk=location.pk)
    assert went_offline()
    assert came_back(stale_read) is True  # the agent's call: back online
    assert came_back(stale_read) is False, "a second caller with the same read moves nothing"


@pytest.mark.django_db
def test_offline_then_back_alerts_the_teams_configs_taking_location_once_each(alice, charlie):
    location = make_location(alice)
    with LocalHTTPServer() as receiver, override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True):
        receiver.set("/hook", 200)
        config_of(alice, receiver.url("/hook"), ["location"])
        config_of(alice, receiver.url("/not-location"), ["down", "recovery"])
        config_of(alice, receiver.url("/off"), ["location"], enabled=False)
        config_of(charlie, receiver.url("/other-team"), ["location"])
        silent_since(location, 90)
        went_offline()
        went_offline()
        send_pending()
        client, _ = agent_client(location)
        client.post("/api/agent/heartbeat/", {}, format="json")
        client.post("/api/agent/heartbeat/", {}, format="json")
        send_pending()
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    offline, online = (r.json() for r in receiver.requests)
    assert offline["event"] == "location" and offline["location"] == {"slug": "eu-west", "name": "Eu West"}
    assert offline["status"] == "offline" and online["status"] == "online"
    assert offline["time"] and "went offline" in offline["message"]
    assert [r.headers["X-PulseGuard-Event"] for r in receiver.requests] == ["location", "location"]


@pytest.mark.django_db
def test_a_shared_locations_alert_goes_to_every_team_with_a_server_on_it(alice, charlie):
    shared = ProbeLocation.objects.create(name="Tokyo", slug="tokyo")
    checked_from(alice, shared)
    mine = config_of(alice, "http://127.0.0.1:9/a", ["location"])
    config_of(charlie, "http://127.0.0.1:9/c", ["location"])  # no server on it
    silent_since(shared, 90)
    went_offline()
    assert list(NotificationDelivery.objects.values_list("config", "event", "location_status")) == [
        (mine.pk, AlertEvent.LOCATION, "offline")
    ]


@pytest.mark.django_db
def test_check_servers_housekeeping_and_the_scheduler_run_the_offline_step(alice):
    location = make_location(alice)
    silent_since(location, 90)
    done = run_all()
    assert done.locations_offline == 1 and "1 location(s) offline" in done.describe()
    assert "locations" in [job_id for job_id, _, _ in Scheduler().jobs()]


class AnyPath(dict):  # type: ignore[type-arg]
    """Routes that answer every path 200 with a JSON body every service accepts."""

    def get(self, path: str, default: Any = None) -> Route:  # type: ignore[override]
        return Route(200, '{"ok": true, "status": "success", "id": "1", "event_id": "$1"}')


KINDS = {
    NotificationType.EMAIL: ("ops@example.com", ""),
    NotificationType.WEBHOOK: ("{url}/hook", ""),
    NotificationType.SMS: ("+15550001111", ""),
    NotificationType.DISCORD: ("{url}/discord", ""),
    NotificationType.SLACK: ("{url}/slack", ""),
    NotificationType.APPRISE: ("json://{hostport}/apprise", ""),
    NotificationType.TELEGRAM: ("123", "{url}"),
    NotificationType.MSTEAMS: ("{url}/teams", ""),
    NotificationType.PAGERDUTY: ("", "{url}"),
    NotificationType.OPSGENIE: ("", "{url}"),
    NotificationType.NTFY: ("topic", "{url}"),
    NotificationType.PUSHOVER: ("user", "{url}"),
    NotificationType.GOTIFY: ("", "{url}"),
    NotificationType.MATRIX: ("!room:example.org", "{url}"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_notifier_type_sends_the_location_alert(alice, kind):
    assert set(KINDS) == set(NotificationType.values)
    location = make_location(alice)
    with (
        LocalHTTPServer() as receiver,
        override_settings(
            MONITOR_ALLOW_PRIVATE_TARGETS=True,
            SMS_GATEWAY_URL=receiver.url(""),
            SMS_ACCOUNT_SID="AC1",
            SMS_AUTH_TOKEN="t",
            SMS_FROM_NUMBER="+15550000000",
        ),
    ):
        receiver.routes = AnyPath()
        url = receiver.url("").rstrip("/")
        recipient, base = (v.format(url=url, hostport=url.split("//")[1]) for v in KINDS[kind])
        config_of(alice, recipient, ["location"], notification_type=kind, api_base_url=base, secret="s3cret")
        silent_since(location, 90)
        went_offline()
        delivery = NotificationDelivery.objects.select_related("config", "location").get()
        notice = notice_for(delivery)
        assert notice.subject == "[PulseGuard] Location Eu West is offline"
        assert "Eu West (eu-west) went offline" in notice.message
        notifier_for(kind).send(delivery)
        sent = [unquote_plus(r.body.decode(errors="replace")) for r in receiver.requests] + [
            m.body for m in mail.outbox
        ]
    assert sent and any("Eu West" in body for body in sent), sent
