"""Certificate alerts (SPEC §13): the rule without a network, then real TLS targets on
127.0.0.1 with certificates of chosen expiry, real webhook receivers and a real SMTP server."""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import AlertEvent, DeliveryStatus, NotificationType
from monitoring.models import CertificateCheck, NotificationDelivery
from monitoring.services.alerts import certificates, delivery
from monitoring.services.alerts.notifiers.webhook import SIGNATURE_HEADER
from monitoring.services.engine.certificates import check_certificate
from monitoring.tests.alerting import SECRET, make_config, make_server, signature_ok
from tests.certs import CertAuthority, make_ca
from tests.targets import LocalHTTPSServer

pytestmark = pytest.mark.django_db

FP = "ab" * 32
DEFAULT = [30, 14, 7, 1]


# --- The rule, no network.


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (90, None),
        (31, None),
        (30, f"certificate_expiring:{FP}:30"),
        (20, f"certificate_expiring:{FP}:30"),
        (14, f"certificate_expiring:{FP}:14"),
        (5, f"certificate_expiring:{FP}:7"),  # 30, 14 and 7 crossed at once: one key
        (1, f"certificate_expiring:{FP}:1"),
        (0, f"certificate_expiring:{FP}:1"),
    ],
)
def test_the_key_is_the_lowest_threshold_reached(days, expected):
    decision = certificates.decide(fingerprint=FP, valid=True, days_remaining=days, thresholds=DEFAULT)
    assert (decision[1] if decision else None) == expected


def test_an_invalid_certificate_has_one_key_per_fingerprint_unless_verification_is_off():
    invalid = certificates.decide(fingerprint=FP, valid=False, days_remaining=60, thresholds=DEFAULT)
    assert invalid == (AlertEvent.CERTIFICATE_INVALID, f"certificate_invalid:{FP}")
    unverified = certificates.decide(
        fingerprint=FP, valid=False, days_remaining=60, thresholds=DEFAULT, verify_tls=False
    )
    assert unverified is None
    assert certificates.decide(fingerprint=FP, valid=False, days_remaining=3, thresholds=DEFAULT, verify_tls=False) == (
        AlertEvent.CERTIFICATE_EXPIRING,
        f"certificate_expiring:{FP}:7",
    )


def test_nothing_read_or_no_thresholds_means_no_alert():
    assert certificates.decide(fingerprint="", valid=False, days_remaining=None, thresholds=DEFAULT) is None
    assert certificates.decide(fingerprint=FP, valid=True, days_remaining=2, thresholds=[]) is None


# --- Real TLS targets.


@pytest.fixture
def ca(tmp_path) -> Iterator[CertAuthority]:
    authority = make_ca(str(tmp_path))
    with override_settings(CERT_CA_BUNDLE=authority.bundle_path):
        yield authority


def tls_target(ca: CertAuthority, tmp_path, days: float, name: str = "leaf") -> LocalHTTPSServer:
    not_after = timezone.now() + timedelta(days=days, hours=1)
    return LocalHTTPSServer(*ca.issue(str(tmp_path), not_after=not_after, name=name))


def https_server(owner, port: int, **fields):
    values = {"protocol": "https", "host": "127.0.0.1", "port": port, "timeout": 5, "name": "shop"}
    return make_server(owner, **(values | fields))


def cert_deliveries():
    return NotificationDelivery.objects.filter(
        event__in=[AlertEvent.CERTIFICATE_EXPIRING, AlertEvent.CERTIFICATE_INVALID]
    ).order_by("id")


def test_five_days_left_sends_one_webhook_and_never_a_second_for_that_threshold(alice, ca, tmp_path, http_target):
    """Done-when: a certificate with five days left sends one alert through a webhook, once."""
    http_target.set("/hook", 200, "ok")
    with tls_target(ca, tmp_path, days=5) as target:
        server = https_server(alice, target.port)
        make_config(server, NotificationType.WEBHOOK, http_target.url("/hook"))
        first = check_certificate(server)
        assert first.valid and first.days_remaining == 5 and len(first.fingerprint_sha256) == 64
        assert delivery.send_pending() == 1
        for _ in range(3):  # later checks of the same certificate
            check_certificate(server)
            assert delivery.send_pending() == 0
    [row] = cert_deliveries()
    assert row.status == DeliveryStatus.SENT and row.certificate_check_id == first.pk
    [request] = http_target.requests
    assert signature_ok(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    body = json.loads(request.body)
    assert body["event"] == "certificate_expiring"
    assert body["server"] == {"id": server.pk, "name": "shop", "url": server.url}
    cert = body["certificate"]
    assert cert["days_remaining"] == 5 and cert["valid"] is True and cert["error"] == ""
    assert cert["issuer"] == "CN=PulseGuard Test CA, O=PulseGuard Tests" and cert["subject"] == "CN=localhost"
    assert cert["expiry_date"] == first.expires_at.isoformat()
    assert "expires in 5 days" in body["message"] and f"{first.expires_at:%Y-%m-%d}" in body["message"]


def test_the_next_lower_threshold_alerts_again_and_a_renewed_certificate_starts_afresh(alice, ca, tmp_path):
    with tls_target(ca, tmp_path, days=5) as target:
        server = https_server(alice, target.port)
        make_config(server)
        check_certificate(server)
        check_certificate(server)
        assert cert_deliveries().count() == 1
        server.cert_expiry_alert_days = [30, 14, 7, 5]  # 5 days left now reaches a lower threshold
        server.save()
        check_certificate(server)
        assert [d.dedupe_key.rsplit(":", 1)[1] for d in cert_deliveries()] == ["7", "5"]
    with tls_target(ca, tmp_path, days=5, name="renewed") as renewed:
        server.port = renewed.port
        server.save()
        check_certificate(server)
    keys = [d.dedupe_key for d in cert_deliveries()]
    assert len(keys) == 3 and keys[2].endswith(":5") and keys[2] != keys[1]


def test_a_far_expiry_sends_nothing(alice, ca, tmp_path):
    with tls_target(ca, tmp_path, days=80) as target:
        server = https_server(alice, target.port)
        make_config(server)
        check_certificate(server)
    assert not cert_deliveries().exists()


def test_a_certificate_that_does_not_verify_sends_certificate_invalid_once(alice, https_target, http_target):
    http_target.set("/hook", 200, "ok")
    server = https_server(alice, https_target.port)  # self-signed: not trusted
    make_config(server, NotificationType.WEBHOOK, http_target.url("/hook"))
    check_certificate(server)
    check_certificate(server)
    assert delivery.send_pending() == 1
    [row] = cert_deliveries()
    assert row.event == AlertEvent.CERTIFICATE_INVALID
    body = http_target.requests[0].json()
    assert body["event"] == "certificate_invalid"
    assert body["certificate"]["valid"] is False and "self-signed" in body["certificate"]["error"]
    assert body["certificate"]["days_remaining"] == 29
    assert "is invalid" in body["message"] and "self-signed certificate" in body["message"]


def test_with_verify_tls_off_a_self_signed_certificate_only_alerts_on_expiry(alice, https_target):
    server = https_server(alice, https_target.port, verify_tls=False)
    make_config(server)
    check_certificate(server)
    [row] = cert_deliveries()
    assert row.event == AlertEvent.CERTIFICATE_EXPIRING and row.dedupe_key.endswith(":30")  # 29 days left


def test_no_certificate_read_means_no_certificate_alert(alice, tcp_closed_port):
    server = https_server(alice, tcp_closed_port)
    make_config(server)
    assert not check_certificate(server).valid
    assert not cert_deliveries().exists()


def test_only_enabled_configs_with_notify_on_failure_and_notifications_on(alice, https_target):
    server = https_server(alice, https_target.port)
    wanted = make_config(server)
    make_config(server, recipient="http://127.0.0.1:9/off", enabled=False)
    make_config(server, recipient="http://127.0.0.1:9/quiet", notify_on_failure=False)
    check_certificate(server)
    assert [d.config_id for d in cert_deliveries()] == [wanted.pk]
    other = https_server(alice, https_target.port, name="muted", notifications=False)
    make_config(other)
    check_certificate(other)
    assert not cert_deliveries().filter(config__servers=other).exists()


def test_two_processes_queueing_the_same_certificate_make_one_row(alice, https_target):
    """Two schedulers (or check-now racing one) that read the same certificate: one alert."""
    server = https_server(alice, https_target.port)
    config = make_config(server)
    check = check_certificate(server)
    twin = CertificateCheck.objects.create(
        server=server, valid=False, days_remaining=29, fingerprint_sha256=check.fingerprint_sha256
    )
    certificates.on_certificate_check(server, check)
    certificates.on_certificate_check(server, twin)
    assert NotificationDelivery.objects.filter(config=config).count() == 1


def test_a_receiver_that_is_down_gets_the_alert_on_a_retry(alice, ca, tmp_path, http_target):
    http_target.set("/hook", 200, "ok")
    http_target.queue("/hook", 503, "busy")
    with tls_target(ca, tmp_path, days=5) as target:
        server = https_server(alice, target.port)
        make_config(server, NotificationType.WEBHOOK, http_target.url("/hook"))
        check_certificate(server)
    delivery.send_pending()
    [row] = cert_deliveries()
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1 and "HTTP 503" in row.last_error
    delivery.send_pending(now=row.next_attempt_at + timedelta(seconds=1))
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT and len(http_target.requests) == 2


def test_the_email_says_how_many_days_are_left_and_when_it_expires(alice, ca, tmp_path, smtp_server):
    with tls_target(ca, tmp_path, days=5) as target:
        server = https_server(alice, target.port)
        make_config(server, NotificationType.EMAIL, "ops@example.com")
        check = check_certificate(server)
    assert delivery.send_pending() == 1
    [message] = smtp_server.messages
    day = f"{check.expires_at:%Y-%m-%d}"
    assert message["Subject"] == f"[PulseGuard] TLS certificate of shop expires in 5 days ({day} 00:00 UTC)".replace(
        "00:00", f"{check.expires_at:%H:%M}"
    )
    text = message.get_body(("plain",)).get_content()
    assert "expires in 5 days" in text and f"Expires:    {day}" in text and "Days left:  5" in text
    assert "5 days left" in message.get_body(("html",)).get_content()


def test_slack_discord_and_sms_say_the_days_left_and_the_expiry_date(alice, ca, tmp_path, http_target):
    sms_path = "/2010-04-01/Accounts/AC1/Messages.json"
    for path in ("/slack", "/discord", sms_path):
        http_target.set(path, 200, "{}")
    with tls_target(ca, tmp_path, days=5) as target:
        server = https_server(alice, target.port)
        make_config(server, NotificationType.SLACK, http_target.url("/slack"))
        make_config(server, NotificationType.DISCORD, http_target.url("/discord"))
        make_config(server, NotificationType.SMS, "+14155550123")
        settings = {"SMS_GATEWAY_URL": http_target.url(""), "SMS_ACCOUNT_SID": "AC1", "SMS_AUTH_TOKEN": "t"}
        with override_settings(SMS_FROM_NUMBER="+15005550006", **settings):
            check = check_certificate(server)
            assert delivery.send_pending() == 3
    day = f"{check.expires_at:%Y-%m-%d}"
    by_path = {r.path: r for r in http_target.requests}
    slack = by_path["/slack"].json()
    assert "expires in 5 days" in slack["text"] and day in slack["blocks"][0]["text"]["text"]
    embed = by_path["/discord"].json()["embeds"][0]
    assert "expires in 5 days" in embed["title"] and day in embed["description"]
    assert {"name": "Days left", "value": "5", "inline": True} in embed["fields"]
    sms = parse_qs(by_path[sms_path].body.decode())["Body"][0]
    assert "expires in 5 days" in sms and day in sms
    assert by_path[sms_path].headers["Authorization"] == "Basic " + b64encode(b"AC1:t").decode()


def test_certificate_alerts_are_listed_and_filtered_in_the_api(alice, alice_client, charlie_client, https_target):
    server = https_server(alice, https_target.port)
    make_config(server)
    check = check_certificate(server)
    listed = alice_client.get("/api/notification-deliveries/?event=certificate_invalid").json()["results"]
    assert [(d["event"], d["certificate_check"], d["change"]) for d in listed] == [
        ("certificate_invalid", check.pk, None)
    ]
    assert alice_client.get("/api/notification-deliveries/?event=down").json()["results"] == []
    assert charlie_client.get("/api/notification-deliveries/").json()["results"] == []
    latest = alice_client.get(f"/api/servers/{server.pk}/certificate/").json()
    assert latest["fingerprint_sha256"] == check.fingerprint_sha256


def test_the_admin_lists_certificate_alerts_and_filters_by_event(alice, https_target):
    from django.contrib.auth.models import User
    from django.test import Client

    server = https_server(alice, https_target.port)
    make_config(server)
    check_certificate(server)
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-password-1"))
    page = client.get("/admin/monitoring/notificationdelivery/?event__exact=certificate_invalid")
    assert page.status_code == 200 and "Certificate invalid" in page.content.decode()
    [row] = cert_deliveries()
    assert client.get(f"/admin/monitoring/notificationdelivery/{row.pk}/change/").status_code == 200
    found = client.get(f"/admin/monitoring/certificatecheck/?q={row.dedupe_key.split(':')[2][:16]}")
    assert found.status_code == 200 and "shop" in found.content.decode()
