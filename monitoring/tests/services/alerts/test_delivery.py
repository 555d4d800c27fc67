"""The sender: claims, leases, retries with backoff, and exactly-once delivery to real receivers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from conftest import require_postgres
from monitoring.choices import AlertEvent, DeliveryStatus, NotificationType, Protocol
from monitoring.models import NotificationDelivery, Server
from monitoring.services.alerts import delivery
from monitoring.services.alerts.delivery import backoff, send_pending
from monitoring.services.alerts.notifiers.webhook import SIGNATURE_HEADER, WebhookNotifier
from monitoring.tasks.engine import run_check
from monitoring.tests.alerting import SECRET, go_down, go_up, make_config, make_server, signature_ok
from tests.concurrency import at_once
from tests.targets import LocalHTTPServer, SilentListener


@pytest.fixture(autouse=True)
def one_alert_per_server(settings):
    """These tests count one message per server and alert; flood control (which would group 20
    servers down at once) has its own tests in test_flood_control.py."""
    settings.ALERT_GROUP_THRESHOLD = 1000


def watched(owner, target: LocalHTTPServer) -> Server:
    """A server whose health is whatever ``target`` answers on /health."""
    return Server.objects.create(
        owner=owner, name="api", protocol=Protocol.HTTP, host="127.0.0.1", port=target.port, path="/health", timeout=10
    )


def events(receiver: LocalHTTPServer, path: str = "/hook") -> list[str]:
    return [r.json()["event"] for r in receiver.requests if r.path == path]


def test_down_then_up_delivers_exactly_one_alert_each_with_a_valid_signature(alice):
    with LocalHTTPServer() as target, LocalHTTPServer() as receiver:
        receiver.set("/hook", 200, "thanks")
        server = watched(alice, target)
        config = make_config(server, recipient=receiver.url("/hook"))
        target.set("/health", 200)
        run_check(server)
        target.set("/health", 500)
        run_check(server)
        run_check(server)  # still down: no new alert
        assert send_pending() == 1
        target.set("/health", 200)
        run_check(server)
        run_check(server)
        assert send_pending() == 1
        assert send_pending() == 0

    assert events(receiver) == ["down", "recovery"]
    for request in receiver.requests:
        assert signature_ok(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    rows = NotificationDelivery.objects.filter(config=config).order_by("id")
    assert [(d.event, d.status, d.attempts) for d in rows] == [("down", "sent", 1), ("recovery", "sent", 1)]
    assert all(d.delivered_at and d.claimed_until is None and not d.last_error for d in rows)


def test_a_receiver_answering_500_then_200_gets_the_alert_once(alice, http_target):
    http_target.queue("/hook", 500, "busy")
    http_target.set("/hook", 200)
    server = make_server(alice)
    config = make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    before = timezone.now()
    assert send_pending() == 1
    row = NotificationDelivery.objects.get(config=config)
    assert (row.status, row.attempts, row.delivered_at) == (DeliveryStatus.PENDING, 1, None)
    assert row.last_error == "HTTP 500: busy"
    assert before + timedelta(seconds=10) <= row.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    assert send_pending() == 0  # not due yet

    assert send_pending(now=row.next_attempt_at) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 2, "HTTP 500: busy")
    assert row.delivered_at is not None and row.claimed_until is None
    assert len(http_target.requests) == 2
    assert send_pending(now=timezone.now() + timedelta(hours=1)) == 0
    assert len(http_target.requests) == 2


def test_backoff_doubles_from_10_seconds_to_at_most_10_minutes():
    waits = [int(backoff(n).total_seconds()) for n in range(1, 10)]
    assert waits == [10, 20, 40, 80, 160, 320, 600, 600, 600]


@override_settings(NOTIFICATION_MAX_ATTEMPTS=3)
def test_it_gives_up_after_the_maximum_attempts_and_keeps_the_last_error(alice, http_target):
    http_target.set("/hook", 503, "maintenance")
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    now = timezone.now()
    for _ in range(5):
        send_pending(now=now)
        now += timedelta(minutes=10)
    row = NotificationDelivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 3)
    assert row.last_error == "HTTP 503: maintenance (gave up after 3 attempts)"
    assert len(http_target.requests) == 3


def test_a_permanent_error_fails_at_once(alice, http_target):
    http_target.set("/hook", 410, "gone")
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    send_pending()
    row = NotificationDelivery.objects.get()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.FAILED, 1, "HTTP 410: gone")


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_refused_private_url_fails_with_a_clear_error(alice, http_target):
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    send_pending()
    row = NotificationDelivery.objects.get()
    assert row.status == DeliveryStatus.FAILED and row.attempts == 1
    assert "private or reserved address" in row.last_error and "MONITOR_ALLOW_PRIVATE_TARGETS" in row.last_error
    assert http_target.requests == []


def test_a_recovery_never_overtakes_its_down(alice, http_target):
    http_target.queue("/hook", 502)
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    send_pending()  # the DOWN fails once and waits 10 s
    go_up(server)
    assert send_pending() == 0  # the recovery is due but waits behind its DOWN
    send_pending(now=timezone.now() + timedelta(seconds=11))
    assert events(http_target) == ["down", "down", "recovery"]
    assert set(NotificationDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_another_sender_that_got_there_first_wins_the_row(alice):
    server = make_server(alice)
    make_config(server)
    go_down(server)
    now = timezone.now()
    [mine] = delivery.candidates(now, 10)
    [theirs] = delivery.candidates(now, 10)  # both read it before either claimed it
    assert delivery.try_claim(theirs, now) is True
    assert delivery.try_claim(mine, now) is False
    row = NotificationDelivery.objects.get()
    assert (row.attempts, row.claimed_until) == (1, now + delivery.lease())
    assert delivery.candidates(now, 10) == []  # leased: nobody else sees it


def test_a_crashed_senders_lease_lapses_and_another_sender_delivers(alice, http_target):
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    now = timezone.now()
    [claimed] = delivery.claim(now)  # ... and the process dies before sending
    assert send_pending(now=now + timedelta(seconds=60)) == 0
    assert send_pending(now=claimed.claimed_until + timedelta(seconds=1)) == 1
    row = NotificationDelivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert len(http_target.requests) == 1


@override_settings(NOTIFICATION_MAX_ATTEMPTS=1)
def test_a_lapsed_last_attempt_fails_without_sending_again(alice, http_target):
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    [claimed] = delivery.claim(timezone.now())
    send_pending(now=claimed.claimed_until + timedelta(seconds=1))
    row = NotificationDelivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 2)
    assert "did not finish" in row.last_error
    assert http_target.requests == []


def test_a_sender_whose_lease_lapsed_does_not_overwrite_the_new_owner(alice, http_target):
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    now = timezone.now()
    [slow] = delivery.claim(now)
    [fast] = delivery.claim(slow.claimed_until + timedelta(seconds=1))
    delivery.deliver(fast)
    NotificationDelivery.objects.filter(pk=fast.pk).update(status=DeliveryStatus.SENT)
    with mock.patch.object(WebhookNotifier, "send", autospec=True, side_effect=RuntimeError("late")):
        delivery.deliver(slow)
    row = NotificationDelivery.objects.get()
    assert row.status == DeliveryStatus.SENT and row.last_error == ""


def test_an_alert_whose_config_was_switched_off_before_sending_is_suppressed(alice, http_target):
    server = make_server(alice)
    config = make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    config.enabled = False
    config.save()
    send_pending()
    row = NotificationDelivery.objects.get()
    assert row.status == DeliveryStatus.SUPPRESSED and "switched off" in row.last_error
    assert http_target.requests == []


def test_a_bug_in_a_notifier_is_retried_not_fatal(alice):
    server = make_server(alice)
    make_config(server)
    go_down(server)
    with mock.patch.object(WebhookNotifier, "send", autospec=True, side_effect=KeyError("oops")):
        assert send_pending() == 1
    row = NotificationDelivery.objects.get()
    assert row.status == DeliveryStatus.PENDING and row.last_error == "KeyError: 'oops'"


def test_email_alerts_go_out_through_a_real_smtp_server(alice, smtp_server):
    server = make_server(alice)
    make_config(server, NotificationType.EMAIL, "ops@example.com")
    go_up(server)
    go_down(server)
    go_up(server)
    assert send_pending() == 2
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert subjects[0] == "[PulseGuard] web is DOWN"
    assert subjects[1].startswith("[PulseGuard] web is back UP")
    assert [e[1] for e in smtp_server.envelopes] == [["ops@example.com"]] * 2


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_senders_on_postgresql_deliver_each_alert_once(django_user_model):
    require_postgres()
    owner = django_user_model.objects.create_user("owner")
    with LocalHTTPServer() as receiver:
        receiver.set("/hook", 200, delay=0.02)
        for n in range(20):
            server = make_server(owner, name=f"s{n}")
            make_config(server, recipient=receiver.url("/hook"))
            make_config(server, NotificationType.SLACK, receiver.url("/slack"))
            go_down(server)
        receiver.set("/slack", 200, delay=0.02)
        assert NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 40

        handled: list[int] = []

        def sender(_: int) -> None:
            for _ in range(50):  # bounded: each pass sends a few and returns
                count = send_pending(limit=3)
                handled.append(count)
                if not count and not NotificationDelivery.objects.due(timezone.now()).exists():
                    break

        assert at_once(sender, threads=4) == []

    assert sum(handled) == 40
    assert NotificationDelivery.objects.filter(status=DeliveryStatus.SENT, attempts=1).count() == 40
    ids = [r.headers["X-PulseGuard-Delivery"] for r in receiver.requests if r.path == "/hook"]
    assert len(ids) == len(set(ids)) == 20
    assert len([r for r in receiver.requests if r.path == "/slack"]) == 20
    assert {r.json()["event"] for r in receiver.requests if r.path == "/hook"} == {AlertEvent.DOWN}


@pytest.mark.parametrize(
    "owners,per_owner,per_host,bound",
    [
        (1, 5, 20, 5),  # one account's 20 servers x 3 webhooks: the owner's share
        (3, 20, 4, 4),  # three accounts' 6 servers x 3 webhooks, one host: the host's share
    ],
)
def test_a_receiver_that_never_answers_delays_only_its_own_alerts(
    alice, django_user_model, http_target, owners, per_owner, per_host, bound
):
    http_target.set("/hook", 200)
    others = [django_user_model.objects.create_user(f"other{n}") for n in range(owners)]
    bounds = {"NOTIFICATION_CONCURRENCY_PER_OWNER": per_owner, "NOTIFICATION_CONCURRENCY_PER_HOST": per_host}
    with (
        override_settings(NOTIFICATION_TIMEOUT=10, NOTIFICATION_CONCURRENCY=20, **bounds),
        SilentListener("::1") as silent,  # another host than our receiver's 127.0.0.1
    ):
        for other in others:  # about 60 alerts to a host that hangs, queued before ours
            for n in range(20 // owners):
                server = make_server(other, name=f"m{n}")
                for k in range(3):
                    make_config(server, recipient=silent.url(f"/hook{k}"))
                go_down(server)
        mine = make_server(alice, name="mine")
        make_config(mine, recipient=http_target.url("/hook"))
        go_down(mine)
        seen: dict[str, float] = {}
        started = time.monotonic()

        def watch() -> None:
            # Until our receiver has the alert and the silent host holds all it will get (or
            # long past when that should have happened); then let the pass end.
            while time.monotonic() - started < 2 * settings.NOTIFICATION_TIMEOUT:
                if http_target.requests and "arrived" not in seen:
                    seen["arrived"] = time.monotonic() - started
                if "arrived" in seen and silent.held >= bound:
                    break
                time.sleep(0.01)
            time.sleep(0.3)  # would more come?
            seen["held"] = silent.held
            silent.close()

        watcher = threading.Thread(target=watch)
        watcher.start()
        send_pending(limit=100)
        watcher.join()

    # Delivered before any request to the silent host could time out, while they hung.
    assert seen.get("arrived", float("inf")) < settings.NOTIFICATION_TIMEOUT
    assert seen["held"] == bound  # and that host never got more than its share
    row = NotificationDelivery.objects.get(config__servers=mine)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
    theirs = NotificationDelivery.objects.filter(config__servers__owner__in=others)
    assert not theirs.filter(status=DeliveryStatus.SENT).exists()


def test_in_flight_deliveries_are_bounded_in_all_per_host_and_per_owner():
    flight = delivery.InFlight(total=4, per_host=2, per_owner=2)
    assert flight.fits(1, "a.example")
    flight.add(1, "a.example")
    flight.add(2, "a.example")
    assert not flight.fits(3, "a.example")  # the host has its share
    assert flight.fits(1, "b.example")
    flight.add(1, "b.example")
    assert not flight.fits(1, "c.example")  # the owner has its share
    assert flight.fits(2, "c.example")
    flight.add(2, "c.example")
    assert not flight.fits(5, "d.example")  # all workers are busy
    assert flight.full_owners() == {1, 2}
    flight.remove(1, "a.example")
    assert flight.fits(3, "a.example") and flight.fits(1, "d.example")


def test_every_attempt_carries_the_same_delivery_id_in_its_header_and_body(alice, http_target):
    http_target.queue("/hook", 503, "busy")
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    send_pending()
    row = NotificationDelivery.objects.get()
    send_pending(now=row.next_attempt_at)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    first, second = http_target.requests
    for request in (first, second):
        assert request.headers["X-PulseGuard-Delivery"] == str(row.pk)
        assert request.json()["delivery_id"] == row.pk
        assert signature_ok(SECRET, request.body, request.headers[SIGNATURE_HEADER])
    assert first.body == second.body  # a receiver can drop the repeat


def test_a_database_error_while_recording_the_outcome_is_retried_so_the_alert_goes_out_once(alice, http_target, caplog):
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    real = delivery._store
    calls: list[int] = []

    def fails_once(*args):  # PostgreSQL went away just as the receiver answered 200
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args)

    with mock.patch.object(delivery, "_store", side_effect=fails_once):
        assert send_pending() == 1
    assert len(calls) == 2
    row = NotificationDelivery.objects.get()
    assert (row.status, row.attempts, row.claimed_until) == (DeliveryStatus.SENT, 1, None)
    assert row.delivered_at is not None
    assert send_pending(now=timezone.now() + delivery.lease() + timedelta(seconds=1)) == 0
    assert len(http_target.requests) == 1
    assert any("delivery_record_retry" in r.getMessage() for r in caplog.records)


def test_a_receiver_whose_name_does_not_resolve_is_one_warning_line_not_a_crash(alice, caplog):
    server = make_server(alice)
    config = make_config(server, recipient="https://hooks.example.invalid/pulse")
    go_down(server)
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with mock.patch("socket.getaddrinfo", autospec=True, side_effect=unknown):
        assert send_pending() == 1
    row = NotificationDelivery.objects.get(config=config)
    assert row.status == DeliveryStatus.PENDING and "could not resolve" in row.last_error
    records = [r for r in caplog.records if r.name == delivery.__name__ and r.levelno >= logging.WARNING]
    assert len(records) == 1
    [record] = records
    assert record.levelno == logging.WARNING and record.exc_info is None
    line = record.getMessage()
    assert f"delivery_id={row.pk}" in line and "could not resolve" in line
    assert f"next_attempt_at={row.next_attempt_at.isoformat()}" in line


@pytest.mark.django_db(transaction=True)
def test_a_test_message_holds_no_database_connection_while_the_receiver_answers(django_user_model, http_target):
    require_postgres()  # SQLite's in-memory test database ignores close()
    http_target.set("/hook", 200)
    owner = django_user_model.objects.create_user("owner")
    config = make_config(make_server(owner), recipient=http_target.url("/hook"))
    connected: list[bool] = []
    real = WebhookNotifier.send

    def spy(notifier: WebhookNotifier, row: NotificationDelivery) -> None:
        connected.append(connection.connection is not None)
        real(notifier, row)

    with mock.patch.object(WebhookNotifier, "send", autospec=True, side_effect=spy):
        sent = delivery.send_test(config)
    assert connected == [False]  # the request gave its connection back while it waited (SPEC §23)
    sent.refresh_from_db()
    assert (sent.status, sent.event, sent.attempts) == (DeliveryStatus.SENT, AlertEvent.TEST, 1)
    assert len(http_target.requests) == 1
