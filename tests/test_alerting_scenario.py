"""Issue 16's "done when", played end to end as a new user would (SPEC §18).

A user signs up through the API and sets everything up through it; their servers are local HTTP
targets on 127.0.0.1 that the test turns up and down; the real check engine checks them
(``engine.run_once``, as check-now and ``check_servers`` do); alerts leave through the real sender
and escalation (``send_pending`` and ``escalation_step``, the scheduler's steps) to stand-ins for
Telegram, PagerDuty and a webhook receiver, also on 127.0.0.1. Time moves by passing ``now`` to
the scheduler's steps: nothing sleeps for minutes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from monitoring.models import Server
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.alerts.escalation import escalation_step
from monitoring.tasks.engine import run_once
from tests.targets import LocalHTTPServer

pytestmark = pytest.mark.django_db

PUBLIC_URL = "http://pulse.test"
BOT_TOKEN = "123456:e2e-bot-token"
TELEGRAM_PATH = f"/bot{BOT_TOKEN}/sendMessage"
CHAT = "-1001234567890"
ROUTING_KEY = "R0UTINGKEYe2e"
ACK_LINK = re.compile(re.escape(PUBLIC_URL) + r"(/ack/[^/\s<>\"]+/)")


@pytest.fixture(autouse=True)
def _local_world() -> Iterator[None]:
    # Every target and stand-in is on 127.0.0.1, which the private-address guard refuses by default.
    with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True, PUBLIC_URL=PUBLIC_URL):
        yield


# --- the people and the world --------------------------------------------------------------------


def sign_up() -> APIClient:
    """A new user, signed up and logged in through the API as a client would."""
    name = f"ops-{uuid.uuid4().hex[:8]}"
    user = {"username": name, "email": f"{name}@example.com", "password": "a-long-passphrase-42"}
    anon = APIClient()
    r = anon.post("/api/auth/register/", user, format="json")
    assert r.status_code == 201, r.content
    r = anon.post("/api/auth/token/", {"username": name, "password": user["password"]}, format="json")
    assert r.status_code == 200, r.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {r.json()['access']}")
    return client


@pytest.fixture
def sites() -> Iterator[LocalHTTPServer]:
    """The monitored services: ``/<name>`` answers 200 (up) or 503 (down) as the test says."""
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def telegram() -> Iterator[LocalHTTPServer]:
    """Telegram's Bot API, standing in: ``sendMessage`` answers as the real one does."""
    with LocalHTTPServer() as server:
        server.set(TELEGRAM_PATH, 200, '{"ok":true,"result":{}}', Content_Type="application/json")
        yield server


@pytest.fixture
def pagerduty() -> Iterator[LocalHTTPServer]:
    """PagerDuty's Events API v2, standing in."""
    with LocalHTTPServer() as server:
        server.set("/v2/enqueue", 202, '{"status":"success","message":"Event processed"}')
        yield server


@pytest.fixture
def hook() -> Iterator[LocalHTTPServer]:
    """A webhook receiver."""
    with LocalHTTPServer() as server:
        server.set("/hook", 200)
        yield server


def up(sites: LocalHTTPServer, *names: str) -> None:
    for name in names:
        sites.set(f"/{name}", 200, "OK")


def down(sites: LocalHTTPServer, *names: str, delay: float = 0.0) -> None:
    for name in names:
        sites.set(f"/{name}", 503, "Service Unavailable", delay=delay)


def add_server(client: APIClient, sites: LocalHTTPServer, name: str, **fields: object) -> dict:
    up(sites, name)
    body = {"name": name, "protocol": "http", "host": "127.0.0.1", "port": sites.port, "path": f"/{name}"}
    r = client.post("/api/servers/", body | fields, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def add_config(client: APIClient, **fields: object) -> dict:
    r = client.post("/api/notification-configs/", fields, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def telegram_config(client: APIClient, telegram: LocalHTTPServer, **fields: object) -> dict:
    return add_config(
        client,
        notification_type="telegram",
        recipient=CHAT,
        secret=BOT_TOKEN,
        api_base_url=telegram.url(""),
        **fields,
    )


def attach_all(client: APIClient, config: dict) -> dict:
    r = client.post(f"/api/notification-configs/{config['id']}/attach-all/")
    assert r.status_code == 200, r.content
    return r.json()


def check(*servers: dict) -> None:
    """One pass of the real check engine over ``servers`` (as check-now and check_servers run it)."""
    summary = run_once(list(Server.objects.filter(pk__in=[s["id"] for s in servers])))
    assert not summary.errors, summary.errors


def status_of(client: APIClient, server: dict) -> str:
    return client.get(f"/api/servers/{server['id']}/").json()["status"]


def incident_of(client: APIClient, server: dict) -> dict:
    r = client.get("/api/incidents/", {"server": server["id"]})
    assert r.status_code == 200, r.content
    [incident] = r.json()["results"]
    return incident


def deliveries(client: APIClient, **filters: object) -> list[dict]:
    r = client.get("/api/notification-deliveries/", {"page_size": 500, **filters})
    assert r.status_code == 200, r.content
    return r.json()["results"]


def scheduler_sends(now: datetime | None = None) -> int:
    """The scheduler's sender step; ``now`` stands for the clock at that run."""
    return send_pending(limit=100, now=now or timezone.now())


def messages(telegram: LocalHTTPServer) -> list[str]:
    assert all((r.method, r.path) == ("POST", TELEGRAM_PATH) for r in telegram.requests)
    for r in telegram.requests:
        assert r.json()["chat_id"] == CHAT
    return [r.json()["text"] for r in telegram.requests]


def events(pagerduty: LocalHTTPServer) -> list[dict]:
    assert all((r.method, r.path) == ("POST", "/v2/enqueue") for r in pagerduty.requests)
    return [r.json() for r in pagerduty.requests]


def ack_path(text: str) -> str:
    found = ACK_LINK.findall(text)
    assert found, f"no ack link in: {text!r}"
    assert len(set(found)) == 1
    return found[0]


# --- 1 to 3: one Telegram config for the whole team, an escalation policy, the ack link ------------


class OnCall:
    """A team of three servers; ``web`` escalates Telegram at once, PagerDuty after a minute."""

    def __init__(self, client: APIClient, sites: LocalHTTPServer, telegram: LocalHTTPServer, pd: LocalHTTPServer):
        self.client, self.sites = client, sites
        self.servers = {name: add_server(client, sites, name) for name in ("web", "api", "db")}
        # One Telegram config, made once, attached to every server of the team.
        tg = telegram_config(client, telegram, events=["down", "recovery", "reminder"])
        assert tg["servers"] == []
        self.telegram = attach_all(client, tg)
        self.pagerduty = add_config(
            client,
            notification_type="pagerduty",
            recipient="",
            secret=ROUTING_KEY,
            api_base_url=pd.url(""),
            events=["down", "recovery", "reminder"],
        )
        policy = {
            "name": "web on call",
            "steps": [
                {"after_minutes": 0, "notification_configs": [self.telegram["id"]]},
                {"after_minutes": 1, "notification_configs": [self.pagerduty["id"]]},
            ],
            "repeat_every_minutes": 5,
        }
        r = client.post("/api/escalation-policies/", policy, format="json")
        assert r.status_code == 201, r.content
        self.policy = r.json()
        web = self.servers["web"]
        r = client.patch(f"/api/servers/{web['id']}/", {"escalation_policy": self.policy["id"]}, format="json")
        assert r.status_code == 200, r.content
        check(*self.servers.values())
        assert {status_of(client, s) for s in self.servers.values()} == {"up"}

    @property
    def web(self) -> dict:
        return self.servers["web"]


@pytest.fixture
def on_call(sites, telegram, pagerduty) -> OnCall:
    return OnCall(sign_up(), sites, telegram, pagerduty)


def test_1_one_telegram_config_attached_to_all_servers_sends_one_down_with_an_ack_link(on_call, telegram):
    client = on_call.client
    assert sorted(on_call.telegram["servers"]) == sorted(s["id"] for s in on_call.servers.values())
    for server in on_call.servers.values():
        shown = client.get(f"/api/servers/{server['id']}/").json()
        assert shown["notification_configs"] == [on_call.telegram["id"]]

    api = on_call.servers["api"]
    down(on_call.sites, "api")
    check(api)
    assert status_of(client, api) == "down"
    scheduler_sends()
    [text] = messages(telegram)
    assert "api is DOWN" in text and "503" in text
    path = ack_path(text)
    page = Client().get(path)
    assert page.status_code == 200 and b"Acknowledge" in page.content and b"api" in page.content
    scheduler_sends(timezone.now() + timedelta(minutes=30))
    assert len(telegram.requests) == 1, "one DOWN, one message"


def down_web(on_call: OnCall, telegram: LocalHTTPServer) -> tuple[dict, datetime]:
    """``web`` goes DOWN; step 0 (Telegram) is sent; the incident and when it started."""
    down(on_call.sites, "web")
    check(on_call.web)
    incident = incident_of(on_call.client, on_call.web)
    started = parse_datetime(incident["started_at"])
    scheduler_sends(started)
    return incident, started


def test_2_nobody_acks_so_pagerduty_is_triggered_a_minute_later(on_call, telegram, pagerduty):
    incident, t0 = down_web(on_call, telegram)
    [text] = messages(telegram)  # the policy's step 0 and the attached config are one config: one message
    assert "web is DOWN" in text
    ack_path(text)
    assert pagerduty.requests == []

    assert escalation_step(t0 + timedelta(seconds=59)) == 0
    scheduler_sends(t0 + timedelta(seconds=59))
    assert pagerduty.requests == [], "not before the minute"

    assert escalation_step(t0 + timedelta(minutes=1)) == 1
    scheduler_sends(t0 + timedelta(minutes=1))
    [trigger] = events(pagerduty)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] and trigger["payload"]["severity"] == "critical"
    assert "web is DOWN" in trigger["payload"]["summary"]
    assert len(telegram.requests) == 1, "step 1 is PagerDuty's alone"
    kinds = [e["kind"] for e in incident_of(on_call.client, on_call.web)["timeline"]]
    assert kinds == ["opened", "step", "step"]


def test_3_the_ack_link_acks_only_by_its_button_then_recovery_reaches_both(on_call, telegram, pagerduty):
    client = on_call.client
    incident, t0 = down_web(on_call, telegram)
    path = ack_path(messages(telegram)[0])
    escalation_step(t0 + timedelta(minutes=1))
    scheduler_sends(t0 + timedelta(minutes=1))
    # Nobody acks: five minutes after the last step, a reminder to both.
    assert escalation_step(t0 + timedelta(minutes=6)) == 1
    scheduler_sends(t0 + timedelta(minutes=6))
    assert len(telegram.requests) == 2 and "Reminder" in messages(telegram)[1]
    trigger, reminder = events(pagerduty)
    assert reminder["event_action"] == "trigger" and reminder["dedup_key"] == trigger["dedup_key"]

    # Opening the link (a mail scanner, or a curious human) acknowledges nothing.
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path)
    assert page.status_code == 200 and b'id="ack"' in page.content
    assert incident_of(client, on_call.web)["acknowledged_at"] is None
    # The button does.
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    done = browser.post(path, {"csrfmiddlewaretoken": csrf, "note": "rebooting the box"})
    assert done.status_code == 200 and b"Acknowledged" in done.content
    acked = incident_of(client, on_call.web)
    assert acked["acknowledged_at"] is not None and acked["ended_at"] is None, "acknowledged, still open"
    assert acked["timeline"][-1]["kind"] == "acknowledged" and acked["timeline"][-1]["note"] == "rebooting the box"

    scheduler_sends(t0 + timedelta(minutes=7))
    acknowledge = events(pagerduty)[2]
    assert acknowledge == {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": trigger["dedup_key"]}
    # Reminders stop: nothing at the next reminder time, nor long after.
    for later in (11, 16, 60):
        assert escalation_step(t0 + timedelta(minutes=later)) == 0
        scheduler_sends(t0 + timedelta(minutes=later))
    assert len(telegram.requests) == 2 and len(pagerduty.requests) == 3
    check(on_call.web)  # still failing: still DOWN, still open, nobody told again
    assert incident_of(client, on_call.web)["ended_at"] is None
    assert browser.get(path).status_code == 200

    # The server is back: the incident ends and the recovery goes to everyone notified.
    up(on_call.sites, "web")
    check(on_call.web)
    assert status_of(client, on_call.web) == "up"
    closed = incident_of(client, on_call.web)
    assert closed["ended_at"] is not None and closed["timeline"][-1]["kind"] == "resolved"
    scheduler_sends(timezone.now() + timedelta(minutes=61))
    assert len(telegram.requests) == 3 and "web is back UP" in messages(telegram)[2]
    resolve = events(pagerduty)[3]
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    assert len(pagerduty.requests) == 4
    assert Client().get(path).status_code == 404, "the link lives while the incident is open"


# --- 4: dependencies ------------------------------------------------------------------------------


def test_4_five_servers_behind_a_down_switch_are_recorded_but_suppressed(sites, hook):
    client = sign_up()
    switch = add_server(client, sites, "switch")
    apps = [add_server(client, sites, f"app-{n}", depends_on=[switch["id"]]) for n in range(5)]
    assert all(a["depends_on"] == [switch["id"]] for a in apps)
    config = attach_all(client, add_config(client, notification_type="webhook", recipient=hook.url("/hook")))
    assert len(config["servers"]) == 6
    check(switch, *apps)

    down(sites, "switch")
    # The five fail a moment after the switch in the same pass (their answers are slower), so
    # the switch's DOWN is already recorded when theirs are, as when a switch takes its hosts with it.
    down(sites, *(a["name"] for a in apps), delay=0.4)
    check(switch, *apps)
    assert {status_of(client, s) for s in (switch, *apps)} == {"down"}, "their DOWN is recorded as usual"
    scheduler_sends(timezone.now() + timedelta(minutes=5))

    [request] = hook.requests
    body = request.json()
    assert body["event"] == "down" and body["server"]["name"] == "switch"
    for app in apps:
        [row] = deliveries(client, server=app["id"], event="down")
        assert row["status"] == "suppressed" and row["last_error"] == "depends on switch, which is down"
        timeline = incident_of(client, app)["timeline"]
        assert [e["kind"] for e in timeline] == ["opened", "suppressed"], timeline
        assert timeline[-1]["note"] == "depends on switch, which is down"
    [row] = deliveries(client, server=switch["id"], event="down")
    assert row["status"] == "sent"


# --- 5: flood control -----------------------------------------------------------------------------


def test_5_twenty_servers_failing_together_make_one_grouped_alert_per_config(sites, telegram, hook):
    client = sign_up()
    servers = [add_server(client, sites, f"node-{n:02d}") for n in range(20)]
    webhook = attach_all(client, add_config(client, notification_type="webhook", recipient=hook.url("/hook")))
    tg = attach_all(client, telegram_config(client, telegram))
    assert len(webhook["servers"]) == len(tg["servers"]) == 20
    check(*servers)

    down(sites, *(s["name"] for s in servers))
    check(*servers)
    assert {status_of(client, s) for s in servers} == {"down"}
    # The scheduler's sender runs every few seconds while the flood is held, then sends it.
    for seconds in range(0, 12, 2):
        scheduler_sends(timezone.now() + timedelta(seconds=seconds))

    [request] = hook.requests
    body = request.json()
    assert body["event"] == "down" and len(body["servers"]) == 20
    assert sorted(s["name"] for s in body["servers"]) == [s["name"] for s in servers]
    [text] = messages(telegram)
    assert "20 servers are DOWN" in text
    rows = deliveries(client, event="down")
    assert len(rows) == 40 and {r["status"] for r in rows} == {"sent", "grouped"}

    # And one grouped recovery each.
    up(sites, *(s["name"] for s in servers))
    check(*servers)
    for seconds in range(0, 12, 2):
        scheduler_sends(timezone.now() + timedelta(seconds=seconds))
    assert len(hook.requests) == 2 and len(telegram.requests) == 2
    recovery = hook.requests[1].json()
    assert recovery["event"] == "recovery" and len(recovery["servers"]) == 20
