"""The notification types of SPEC §18, each against a stand-in for its service on 127.0.0.1.

Each test checks the exact request the service would get: method, path, headers and body.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import Incident, NotificationConfig, NotificationDelivery
from monitoring.services.alerts.notifiers.base import PermanentError, TransientError
from monitoring.services.alerts.notifiers.messages import iso_utc, notice_for, short_duration
from monitoring.services.alerts.notifiers.registry import notifier_for
from monitoring.tests.alerting import go_down, go_up, make_config, make_server


def delivery(config: NotificationConfig, event: str) -> NotificationDelivery:
    return NotificationDelivery.objects.select_related(
        "config", "change__server", "incident__server", "certificate_check__server"
    ).get(config=config, event=event)


def service(alice, kind: str, recipient: str, base: str, secret: str = "", **fields):
    """A server that went down 3 minutes ago and came back, alerting one config of ``kind``."""
    server = make_server(alice, name="shop")
    config = make_config(server, kind, recipient, secret=secret, api_base_url=base, **fields)
    start = timezone.now() - timedelta(minutes=4)
    go_up(server, start)
    go_down(server, start + timedelta(seconds=1), error="connection refused")
    go_up(server, start + timedelta(minutes=3, seconds=1))
    return server, config


def acknowledged(config: NotificationConfig) -> NotificationDelivery:
    """What the acknowledgement flow queues (another part of SPEC §18): an ``acknowledged`` delivery."""
    incident = Incident.objects.get(server__notification_configs=config)
    return NotificationDelivery.objects.create(config=config, incident=incident, event=AlertEvent.ACKNOWLEDGED)


def send(config: NotificationConfig, event: str) -> None:
    notifier_for(config.notification_type).send(delivery(config, event))


def test_telegram_sends_the_message_to_the_chat_with_the_bot_token_in_the_path(alice, http_target):
    http_target.set("/bot123:ABC/sendMessage", 200, '{"ok":true}')
    _, config = service(alice, NotificationType.TELEGRAM, "-100123", http_target.url(""), secret="123:ABC")
    send(config, AlertEvent.DOWN)
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", "/bot123:ABC/sendMessage")
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["chat_id"] == "-100123" and body["parse_mode"] == "HTML"
    assert body["text"].startswith("<b>[PulseGuard] shop is DOWN</b>\n") and "connection refused" in body["text"]


def test_telegram_errors_never_show_the_bot_token(alice, http_target):
    http_target.set("/bot123:SECRET/sendMessage", 401, "bad token 123:SECRET")
    _, config = service(alice, NotificationType.TELEGRAM, "42", http_target.url(""), secret="123:SECRET")
    with pytest.raises(PermanentError) as caught:
        send(config, AlertEvent.DOWN)
    assert "HTTP 401" in str(caught.value) and "SECRET" not in str(caught.value)


def test_msteams_posts_an_adaptive_card_to_the_webhook_url(alice, http_target):
    http_target.set("/teams", 202, "1")
    _, config = service(alice, NotificationType.MSTEAMS, http_target.url("/teams"), "")
    send(config, AlertEvent.RECOVERY)
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", "/teams")
    body = request.json()
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    title, text, facts = attachment["content"]["body"]
    assert title["text"] == "[PulseGuard] shop is back UP after 3 min" and title["color"] == "good"
    assert "3 min" in text["text"]
    assert facts["facts"][0] == {"title": "Status", "value": "down → up"}


def test_pagerduty_triggers_then_acknowledges_then_resolves_one_dedup_key(alice, http_target):
    http_target.set("/v2/enqueue", 202, '{"status":"success"}')
    server, config = service(alice, NotificationType.PAGERDUTY, "", http_target.url(""), secret="R0UTING")
    incident = Incident.objects.get(server=server)
    send(config, AlertEvent.DOWN)
    notifier_for("pagerduty").send(acknowledged(config))
    send(config, AlertEvent.RECOVERY)
    trigger, ack, resolve = (r.json() for r in http_target.requests)
    assert all(r.path == "/v2/enqueue" and r.method == "POST" for r in http_target.requests)
    key = f"pulseguard-incident-{incident.pk}"
    assert (trigger["routing_key"], trigger["event_action"], trigger["dedup_key"]) == ("R0UTING", "trigger", key)
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["summary"] == "[PulseGuard] shop is DOWN"
    assert trigger["payload"]["source"] == server.url
    assert ack == {"routing_key": "R0UTING", "event_action": "acknowledge", "dedup_key": key}
    assert resolve == {"routing_key": "R0UTING", "event_action": "resolve", "dedup_key": key}


def test_pagerduty_takes_the_routing_key_from_the_recipient_when_no_secret(alice, http_target):
    http_target.set("/v2/enqueue", 202, "{}")
    _, config = service(alice, NotificationType.PAGERDUTY, "KEY-IN-RECIPIENT", http_target.url(""))
    send(config, AlertEvent.DOWN)
    assert http_target.requests[0].json()["routing_key"] == "KEY-IN-RECIPIENT"


def test_pagerduty_answering_429_is_worth_a_retry(alice, http_target):
    http_target.set("/v2/enqueue", 429, "slow down")
    _, config = service(alice, NotificationType.PAGERDUTY, "", http_target.url(""), secret="k")
    with pytest.raises(TransientError):
        send(config, AlertEvent.DOWN)


def test_opsgenie_creates_acknowledges_and_closes_by_alias(alice, http_target):
    for path in ("/v2/alerts", "/v2/alerts/{alias}/acknowledge", "/v2/alerts/{alias}/close"):
        http_target.set(path, 202, '{"result":"Request will be processed"}')
    server, config = service(alice, NotificationType.OPSGENIE, "", http_target.url(""), secret="genie-1")
    alias = f"pulseguard-incident-{Incident.objects.get(server=server).pk}"
    for path in (f"/v2/alerts/{alias}/acknowledge", f"/v2/alerts/{alias}/close"):
        http_target.set(path, 202, "{}")
    send(config, AlertEvent.DOWN)
    notifier_for("opsgenie").send(acknowledged(config))
    send(config, AlertEvent.RECOVERY)
    create, ack, close = http_target.requests
    assert all(r.headers["Authorization"] == "GenieKey genie-1" for r in (create, ack, close))
    assert (create.method, create.path) == ("POST", "/v2/alerts")
    body = create.json()
    assert body["alias"] == alias and body["message"] == "[PulseGuard] shop is DOWN" and body["priority"] == "P1"
    assert (ack.method, ack.path) == ("POST", f"/v2/alerts/{alias}/acknowledge?identifierType=alias")
    assert (close.method, close.path) == ("POST", f"/v2/alerts/{alias}/close?identifierType=alias")
    assert close.json()["source"] == "PulseGuard"


def test_ntfy_publishes_json_to_the_root_with_the_topic_and_the_token(alice, http_target):
    http_target.set("/", 200, "{}")
    _, config = service(alice, NotificationType.NTFY, "ops-alerts", http_target.url(""), secret="tk_abc")
    send(config, AlertEvent.DOWN)
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["Authorization"] == "Bearer tk_abc"
    body = request.json()
    assert body["topic"] == "ops-alerts" and body["title"] == "[PulseGuard] shop is DOWN" and body["priority"] == 5
    assert "connection refused" in body["message"] and body["tags"] == ["rotating_light"]


def test_ntfy_without_a_token_sends_no_authorization(alice, http_target):
    http_target.set("/", 200, "{}")
    _, config = service(alice, NotificationType.NTFY, "public", http_target.url(""))
    assert config.secret == ""  # a service's credential is never made up
    send(config, AlertEvent.RECOVERY)
    assert "Authorization" not in http_target.requests[0].headers


def test_pushover_posts_a_form_with_the_app_token_and_the_user_key(alice, http_target):
    http_target.set("/1/messages.json", 200, '{"status":1}')
    _, config = service(alice, NotificationType.PUSHOVER, "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", http_target.url(""), "azG")
    send(config, AlertEvent.DOWN)
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", "/1/messages.json")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form["token"] == "azG" and form["user"] == "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
    assert form["title"] == "[PulseGuard] shop is DOWN" and form["priority"] == "1"


def test_gotify_posts_the_message_with_the_app_token_header(alice, http_target):
    http_target.set("/gotify/message", 200, "{}")
    _, config = service(alice, NotificationType.GOTIFY, "", http_target.url("/gotify/"), secret="AppTok")
    send(config, AlertEvent.DOWN)
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", "/gotify/message")
    assert request.headers["X-Gotify-Key"] == "AppTok"
    assert request.json()["title"] == "[PulseGuard] shop is DOWN" and request.json()["priority"] == 8


def test_matrix_puts_one_event_into_the_room_with_the_delivery_as_transaction(alice, http_target):
    _, config = service(alice, NotificationType.MATRIX, "!room:example.org", http_target.url(""), secret="syt_tok")
    row = delivery(config, AlertEvent.DOWN)
    path = f"/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/{row.pk}"
    http_target.set(path, 200, '{"event_id":"$1"}')
    notifier_for("matrix").send(row)
    notifier_for("matrix").send(row)  # a retry: the same transaction, which the homeserver posts once
    first, second = http_target.requests
    assert (first.method, first.path) == ("PUT", path) and second.path == path
    assert first.headers["Authorization"] == "Bearer syt_tok"
    body = first.json()
    assert body["msgtype"] == "m.text" and body["body"].startswith("[PulseGuard] shop is DOWN\n")


def test_matrix_text_cannot_ping_the_whole_room(alice, http_target):
    server = make_server(alice, name="@room web")
    config = make_config(server, NotificationType.MATRIX, "!r:x.org", secret="t", api_base_url=http_target.url(""))
    go_up(server, timezone.now() - timedelta(minutes=1))
    go_down(server, error="@room look")
    row = delivery(config, AlertEvent.DOWN)
    http_target.set(f"/_matrix/client/v3/rooms/%21r%3Ax.org/send/m.room.message/{row.pk}", 200, "{}")
    notifier_for("matrix").send(row)
    assert "@room" not in http_target.requests[0].json()["body"]


def test_apprise_delivers_through_a_json_url_to_a_local_receiver(alice, http_target):
    http_target.set("/apprise", 200, "ok")
    url = f"json://127.0.0.1:{http_target.port}/apprise"
    _, config = service(alice, NotificationType.APPRISE, url, "")
    send(config, AlertEvent.DOWN)
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", "/apprise")
    body = request.json()
    assert body["title"] == "[PulseGuard] shop is DOWN" and "connection refused" in body["message"]
    assert body["type"] == "failure"


def test_apprise_failure_is_transient_and_says_why(alice, http_target):
    http_target.set("/apprise", 500, "broken")
    _, config = service(alice, NotificationType.APPRISE, f"json://127.0.0.1:{http_target.port}/apprise", "")
    with pytest.raises(TransientError, match="Apprise could not deliver"):
        send(config, AlertEvent.DOWN)


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_apprise_to_a_private_host_is_refused_for_good(alice, http_target):
    _, config = service(alice, NotificationType.APPRISE, f"json://127.0.0.1:{http_target.port}/apprise", "")
    with pytest.raises(PermanentError, match="MONITOR_ALLOW_PRIVATE_TARGETS"):
        send(config, AlertEvent.DOWN)
    assert http_target.requests == []


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
@pytest.mark.parametrize("kind", [NotificationType.TELEGRAM, NotificationType.GOTIFY, NotificationType.NTFY])
def test_a_service_root_on_a_private_address_is_refused_at_send(alice, http_target, kind):
    recipient = {"telegram": "1", "gotify": "", "ntfy": "t"}[kind]
    _, config = service(alice, kind, recipient, http_target.url(""), secret="tok")
    with pytest.raises(PermanentError, match="MONITOR_ALLOW_PRIVATE_TARGETS"):
        send(config, AlertEvent.DOWN)
    assert http_target.requests == []


@pytest.mark.parametrize(
    ("kind", "recipient", "base", "host"),
    [
        ("telegram", "1", "", "api.telegram.org"),
        ("pagerduty", "", "", "events.pagerduty.com"),
        ("opsgenie", "", "https://api.eu.opsgenie.com", "api.eu.opsgenie.com"),
        ("ntfy", "t", "", "ntfy.sh"),
        ("pushover", "u", "", "api.pushover.net"),
        ("gotify", "", "https://push.example.com", "push.example.com"),
        ("matrix", "!r:x.org", "https://matrix.example.org", "matrix.example.org"),
        ("msteams", "https://acme.webhook.office.com/x", "", "acme.webhook.office.com"),
        ("apprise", "json://hooks.example.com/a", "", "hooks.example.com"),
        ("apprise", "tgram://123:abc/456", "", "tgram"),
    ],
)
def test_each_notifier_names_the_host_that_receives_its_alerts(alice, kind, recipient, base, host):
    config = make_config(make_server(alice), kind, recipient, secret="k", api_base_url=base)
    assert notifier_for(kind).receiver_host(config) == host


def test_a_config_gets_its_types_default_root(alice):
    config = make_config(make_server(alice), NotificationType.TELEGRAM, "1", secret="k")
    assert config.api_base_url == "https://api.telegram.org"


# --- Templates (SPEC §18).


def test_templates_fill_every_placeholder_and_keep_doubled_braces(alice, http_target):
    http_target.set("/", 200, "{}")
    title = "{status} ← {previous_status}: {server.name}"
    body = "{{x}} {server.url} | {message} | {time} | {downtime} | {incident_url} | {ack_url}."
    server, config = service(
        alice, NotificationType.NTFY, "t", http_target.url(""), title_template=title, body_template=body
    )
    send(config, AlertEvent.RECOVERY)
    sent = http_target.requests[0].json()
    notice = notice_for(delivery(config, AlertEvent.RECOVERY))
    incident = Incident.objects.get(server=server)
    assert sent["title"] == "up ← down: shop"
    assert sent["message"] == (
        f"{{x}} {server.url} | {notice.default_message} | {iso_utc(notice.time)} | 3m | "
        f"http://localhost:8000/servers/{server.pk}/#incident-{incident.pk} | ."
    )


@override_settings(PUBLIC_URL="https://pulse.example.com")
def test_template_links_follow_public_url_and_a_push_server_shows_its_page(alice, http_target):
    http_target.set("/hook", 200, "ok")
    server = make_server(alice, name="nightly", protocol="push", host="", port=None)
    config = make_config(server, NotificationType.WEBHOOK, http_target.url("/hook"), body_template="{server.url}")
    go_up(server, timezone.now() - timedelta(minutes=1))
    go_down(server)
    send(config, AlertEvent.DOWN)
    assert http_target.requests[0].json()["message"] == f"https://pulse.example.com/servers/{server.pk}/"


def test_in_a_webhook_the_body_template_replaces_message(alice, http_target):
    http_target.set("/hook", 200, "ok")
    _, config = service(alice, NotificationType.WEBHOOK, http_target.url("/hook"), "", body_template="{status}!")
    send(config, AlertEvent.DOWN)
    body = http_target.requests[0].json()
    assert body["message"] == "down!" and body["event"] == "down"


def test_time_and_downtime_read_as_the_spec_says():
    assert iso_utc(datetime(2026, 1, 31, 9, 5, 3, 999, tzinfo=UTC)) == "2026-01-31T09:05:03Z"
    assert [short_duration(s) for s in (0, 45, 303, 3600, 90061)] == ["0s", "45s", "5m 3s", "1h", "1d 1h 1m 1s"]


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (AlertEvent.REMINDER, ("still DOWN", "still DOWN")),
        (AlertEvent.ACKNOWLEDGED, ("acknowledged", "acknowledged")),
        (AlertEvent.MAINTENANCE_START, ("maintenance started", "entered maintenance")),
        (AlertEvent.MAINTENANCE_END, ("maintenance ended", "left maintenance")),
    ],
)
def test_the_new_events_read_sensibly(alice, http_target, event, words):
    http_target.set("/", 200, "{}")
    server = make_server(alice, name="shop")
    config = make_config(server, NotificationType.NTFY, "t", secret="", api_base_url=http_target.url(""))
    go_up(server, timezone.now() - timedelta(minutes=10))
    go_down(server, timezone.now() - timedelta(minutes=5))
    incident = Incident.objects.get(server=server)
    row = NotificationDelivery.objects.create(config=config, incident=incident, event=event)
    notifier_for("ntfy").send(row)
    sent = http_target.requests[0].json()
    assert words[0] in sent["title"] and words[1] in sent["message"] and "shop" in sent["message"]
    if event == AlertEvent.REMINDER:
        assert "5 min" in sent["message"]


def test_msteams_text_cannot_disguise_a_link(alice, http_target):
    http_target.set("/teams", 200, "1")
    server = make_server(alice, name="[click](https://evil.example)")
    config = make_config(server, NotificationType.MSTEAMS, http_target.url("/teams"))
    go_up(server, timezone.now() - timedelta(minutes=1))
    go_down(server)
    send(config, AlertEvent.DOWN)
    card = http_target.requests[0].json()["attachments"][0]["content"]
    assert all("](" not in block.get("text", "") for block in card["body"])
