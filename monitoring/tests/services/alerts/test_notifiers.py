"""Each channel against a real receiver on 127.0.0.1 (HTTP, or aiosmtpd for e-mail)."""

from __future__ import annotations

import base64
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs

import pytest
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import AlertEvent, NotificationType
from monitoring.models import NotificationConfig, NotificationDelivery
from monitoring.services import net
from monitoring.services.alerts.notifiers.base import PermanentError, TransientError
from monitoring.services.alerts.notifiers.messages import humanize_seconds
from monitoring.services.alerts.notifiers.registry import NOTIFIERS, notifier_for
from monitoring.services.alerts.notifiers.webhook import SIGNATURE_HEADER
from monitoring.tests.alerting import SECRET, go_down, go_up, make_config, make_server, signature_ok

SMS = {
    "SMS_ACCOUNT_SID": "AC123",
    "SMS_AUTH_TOKEN": "tok-456",
    "SMS_FROM_NUMBER": "+15005550006",
}


def queued(config: NotificationConfig, event: str) -> NotificationDelivery:
    return NotificationDelivery.objects.select_related("config", "change__server", "incident").get(
        config=config, event=event
    )


def outage(alice, config_kind: str, recipient: str, *, minutes: int = 3):
    """A server that went down and came back ``minutes`` later, with one config."""
    server = make_server(alice, name="shop & api")
    config = make_config(server, config_kind, recipient)
    start = timezone.now() - timedelta(minutes=minutes + 1)
    go_up(server, start)
    go_down(server, start + timedelta(seconds=1), error="connection refused")
    go_up(server, start + timedelta(minutes=minutes, seconds=1))
    return server, config


def test_the_registry_has_exactly_one_notifier_per_notification_type():
    assert set(NOTIFIERS) == set(NotificationType.values)
    for kind, cls in NOTIFIERS.items():
        assert cls.notification_type == kind
        assert isinstance(notifier_for(kind), cls)


def test_a_webhook_gets_the_spec_body_signed_with_the_configs_secret(alice, http_target):
    http_target.set("/hook", 200, "ok")
    server, config = outage(alice, NotificationType.WEBHOOK, http_target.url("/hook"))
    notifier_for("webhook").send(queued(config, AlertEvent.DOWN))

    [request] = http_target.requests
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert signature_ok(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    assert not signature_ok("another-secret", request.body, request.headers[SIGNATURE_HEADER])
    body = request.json()
    assert set(body) == {"delivery_id", "event", "server", "status", "previous_status", "time", "message"}
    assert body["delivery_id"] == int(request.headers["X-PulseGuard-Delivery"])
    assert body["event"] == "down" and (body["status"], body["previous_status"]) == ("down", "up")
    assert body["server"] == {"id": server.pk, "name": "shop & api", "url": server.url}
    assert "connection refused" in body["message"] and "shop & api" in body["message"]
    assert body["time"].startswith(str(timezone.now().year))
    assert request.headers["X-PulseGuard-Event"] == "down"


def test_a_recovery_webhook_says_how_long_it_was_down(alice, http_target):
    http_target.set("/hook", 204, "")
    _, config = outage(alice, NotificationType.WEBHOOK, http_target.url("/hook"), minutes=3)
    notifier_for("webhook").send(queued(config, AlertEvent.RECOVERY))
    body = http_target.requests[0].json()
    assert (body["event"], body["status"], body["previous_status"]) == ("recovery", "up", "down")
    assert body["downtime_seconds"] == 180
    assert "3 min" in body["message"]


def test_discord_gets_one_embed(alice, http_target):
    http_target.set("/discord", 204, "")
    server, config = outage(alice, NotificationType.DISCORD, http_target.url("/discord"))
    notifier_for("discord").send(queued(config, AlertEvent.RECOVERY))
    body = http_target.requests[0].json()
    [embed] = body["embeds"]
    assert embed["title"].startswith("[PulseGuard] shop & api is back UP")
    assert embed["url"] == server.url and embed["color"] == 0x2E7D32
    assert {"name": "Downtime", "value": "180 s", "inline": True} in embed["fields"]


def test_slack_gets_text_and_blocks(alice, http_target):
    http_target.set("/slack", 200, "ok")
    _, config = outage(alice, NotificationType.SLACK, http_target.url("/slack"))
    notifier_for("slack").send(queued(config, AlertEvent.DOWN))
    body = http_target.requests[0].json()
    assert body["text"] == "[PulseGuard] shop &amp; api is DOWN"  # Slack's entity for "&"
    assert "connection refused" in body["blocks"][0]["text"]["text"]


def test_sms_posts_a_twilio_style_form_with_basic_auth(alice, http_target):
    path = "/2010-04-01/Accounts/AC123/Messages.json"
    http_target.set(path, 201, '{"sid": "SM1"}')
    _, config = outage(alice, NotificationType.SMS, "+14155550123")
    with override_settings(SMS_GATEWAY_URL=http_target.url(""), **SMS):
        notifier_for("sms").send(queued(config, AlertEvent.DOWN))
    [request] = http_target.requests
    assert (request.method, request.path) == ("POST", path)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:tok-456").decode()
    form = parse_qs(request.body.decode())
    assert form["To"] == ["+14155550123"] and form["From"] == ["+15005550006"]
    assert form["Body"][0].startswith("shop & api (")


def test_sms_without_an_account_is_a_permanent_error(alice, http_target):
    _, config = outage(alice, NotificationType.SMS, "+14155550123")
    with (
        override_settings(SMS_GATEWAY_URL=http_target.url(""), SMS_ACCOUNT_SID="", SMS_AUTH_TOKEN=""),
        pytest.raises(PermanentError, match="SMS_ACCOUNT_SID, SMS_AUTH_TOKEN"),
    ):
        notifier_for("sms").send(queued(config, AlertEvent.DOWN))
    assert http_target.requests == []


def test_an_email_goes_through_a_real_smtp_server(alice, smtp_server):
    _, config = outage(alice, NotificationType.EMAIL, "ops@example.com", minutes=61)
    with override_settings(DEFAULT_FROM_EMAIL="PulseGuard <alerts@example.com>"):
        notifier_for("email").send(queued(config, AlertEvent.RECOVERY))
    [message] = smtp_server.messages
    assert message["To"] == "ops@example.com" and "alerts@example.com" in message["From"]
    assert message["Subject"] == "[PulseGuard] shop & api is back UP after 1 h 1 min"
    text = message.get_body(("plain",)).get_content()
    assert "Downtime: 1 h 1 min (3660 s)" in text and "&amp;" not in text
    assert "shop &amp; api" in message.get_body(("html",)).get_content()


@pytest.mark.parametrize(
    "reply,error",
    [("451 4.3.0 greylisted, try later", TransientError), ("554 5.7.1 rejected as spam", PermanentError)],
)
def test_an_smtp_refusal_is_transient_for_4xx_and_permanent_for_5xx(alice, smtp_server, reply, error):
    _, config = outage(alice, NotificationType.EMAIL, "ops@example.com")
    smtp_server.refuse_next(reply)
    with pytest.raises(error, match=reply[:3]):
        notifier_for("email").send(queued(config, AlertEvent.DOWN))
    assert smtp_server.messages == []


def test_an_smtp_server_that_is_not_there_is_transient(alice, tcp_closed_port):
    _, config = outage(alice, NotificationType.EMAIL, "ops@example.com")
    smtp = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_PORT": tcp_closed_port}
    with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_TIMEOUT=2, **smtp), pytest.raises(TransientError):
        notifier_for("email").send(queued(config, AlertEvent.DOWN))


@pytest.mark.parametrize(
    "status,error",
    [
        (500, TransientError),
        (503, TransientError),
        (429, TransientError),
        (404, PermanentError),
        (401, PermanentError),
        (301, PermanentError),
    ],
)
def test_a_receivers_answer_says_whether_a_retry_can_help(alice, http_target, status, error):
    http_target.set("/hook", status, "nope", Location="/elsewhere")
    _, config = outage(alice, NotificationType.WEBHOOK, http_target.url("/hook"))
    with pytest.raises(error, match=f"HTTP {status}"):
        notifier_for("webhook").send(queued(config, AlertEvent.DOWN))
    assert len(http_target.requests) == 1  # a redirect is not followed


def test_a_receiver_that_is_not_listening_is_transient(alice, tcp_closed_port):
    _, config = outage(alice, NotificationType.WEBHOOK, f"http://127.0.0.1:{tcp_closed_port}/hook")
    with pytest.raises(TransientError, match="connection failed: Connection refused"):
        notifier_for("webhook").send(queued(config, AlertEvent.DOWN))


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_private_url_is_refused_for_good_when_private_targets_are_not_allowed(alice, http_target):
    http_target.set("/hook", 200)
    _, config = outage(alice, NotificationType.DISCORD, http_target.url("/hook"))
    with pytest.raises(PermanentError, match="MONITOR_ALLOW_PRIVATE_TARGETS"):
        notifier_for("discord").send(queued(config, AlertEvent.DOWN))
    assert http_target.requests == []


def test_the_webhook_goes_out_through_the_one_network_module(alice):
    server = make_server(alice)
    config = make_config(server, recipient="https://hooks.example.com/pulse")
    go_down(server)
    response = net.HttpResponse(status_code=200, body="", elapsed_ms=1.0, final_url="https://hooks.example.com/pulse")
    with mock.patch.object(net, "http_request", autospec=True, return_value=response) as call:
        notifier_for("webhook").send(queued(config, AlertEvent.DOWN))
    call.assert_called_once()
    args, kwargs = call.call_args
    assert args == ("POST", "https://hooks.example.com/pulse")
    assert kwargs["timeout"] == 10
    assert signature_ok(SECRET, kwargs["data"], kwargs["headers"][SIGNATURE_HEADER])


@pytest.mark.parametrize(
    "seconds,text", [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3725, "1 h 2 min 5 s"), (90061, "1 d 1 h 1 min")]
)
def test_downtime_reads_as_people_say_it(seconds, text):
    assert humanize_seconds(seconds) == text


# What a target or a push may say in its error or message, trying to reach everyone.
HOSTILE = (
    "@channel <!channel> <!here> @everyone <@123> <http://evil.example|your bank> [click](http://evil.example) a&b"
)


def hostile_outage(alice, kind: str, recipient: str) -> NotificationConfig:
    server = make_server(alice, name="shop & api")
    config = make_config(server, kind, recipient)
    go_up(server)
    go_down(server, error=HOSTILE)
    return config


def texts(value: object) -> list[str]:
    """Every string in a JSON body."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def test_slack_text_from_a_target_is_escaped_and_mentions_nobody(alice, http_target):
    http_target.set("/slack", 200, "ok")
    config = hostile_outage(alice, NotificationType.SLACK, http_target.url("/slack"))
    notifier_for("slack").send(queued(config, AlertEvent.DOWN))
    body = http_target.requests[0].json()
    assert body["text"] == "[PulseGuard] shop &amp; api is DOWN"
    section = body["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt;" in section and "&lt;http://evil.example|your bank&gt;" in section
    assert "a&amp;b" in section
    for text in texts(body):
        assert "<" not in text and ">" not in text  # no <!channel>, no disguised <url|link>
        assert "@channel" not in text and "@everyone" not in text and "@here" not in text


def test_discord_text_from_a_target_is_escaped_and_mentions_nobody(alice, http_target):
    http_target.set("/discord", 204, "")
    config = hostile_outage(alice, NotificationType.DISCORD, http_target.url("/discord"))
    notifier_for("discord").send(queued(config, AlertEvent.DOWN))
    body = http_target.requests[0].json()
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert r"\[click\](http://evil.example)" in embed["description"]  # no masked link
    assert r"\<@123\>" in embed["description"]
    for text in texts(body):
        assert "@everyone" not in text and "@here" not in text and "@channel" not in text


def test_a_webhook_message_from_a_target_mentions_nobody(alice, http_target):
    http_target.set("/hook", 200)
    config = hostile_outage(alice, NotificationType.WEBHOOK, http_target.url("/hook"))
    notifier_for("webhook").send(queued(config, AlertEvent.DOWN))
    message = http_target.requests[0].json()["message"]
    assert "@channel" not in message and "@everyone" not in message
    assert "<http://evil.example|your bank>" in message  # JSON: the receiver escapes for its own markup


def test_an_emails_html_escapes_text_from_a_target(alice, smtp_server):
    config = hostile_outage(alice, NotificationType.EMAIL, "ops@example.com")
    notifier_for("email").send(queued(config, AlertEvent.DOWN))
    [message] = smtp_server.messages
    html = message.get_body(("html",)).get_content()
    assert "&lt;http://evil.example|your bank&gt;" in html and "<http://evil" not in html
    assert "a&amp;b" in html and "@channel" not in html
