"""The subscribers' delivery lane and the events that feed it (SPEC §21, with §7's guarantees)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import DeliveryStatus, PageEvent, Status
from monitoring.models import MaintenanceWindow, PageMessage, StatusPage, Subscriber, SubscriberDelivery
from monitoring.services.subscribers import sending
from monitoring.services.subscribers.events import notify_subscribers
from monitoring.services.subscribers.sending import claim, fan_out, send_subscriber_messages
from monitoring.tasks.housekeeping import run_all
from monitoring.tasks.maintenance import maintenance_step
from monitoring.tests.alerting import go_down, go_up, make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(alice):
    return StatusPage.objects.create(owner=alice, slug="acme", title="Acme status", is_public=True)


def fan(page, target="fan@example.com", kind="email") -> Subscriber:
    return Subscriber.objects.create(page=page, kind=kind, target=target, confirmed_at=timezone.now())


def post(page, **fields):
    fields = {"title": "Checkout is slow", "status": "investigating", "time": timezone.now()} | fields
    return notify_subscribers(page, PageEvent.POST, **fields)


def test_a_webhook_subscriber_gets_the_json_body(page, http_target):
    http_target.set("/hook", status=204, body="")
    fan(page, f"http://127.0.0.1:{http_target.port}/hook", kind="webhook")
    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    post(page, message="We are looking.", impact="minor", time=at)
    assert send_subscriber_messages() == 1
    [request] = http_target.requests
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "event": "post",
        "page": {"slug": "acme", "title": "Acme status", "url": "http://localhost:8000/status/acme/"},
        "title": "Checkout is slow",
        "status": "investigating",
        "message": "We are looking.",
        "impact": "minor",
        "time": "2026-12-03T12:00:00+00:00",
    }


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_webhook_to_a_private_address_fails_at_send_time_without_a_retry(page, http_target):
    http_target.set("/hook", status=204, body="")
    fan(page, f"http://127.0.0.1:{http_target.port}/hook", kind="webhook")
    post(page)
    send_subscriber_messages()
    row = SubscriberDelivery.objects.get()
    assert row.status == DeliveryStatus.FAILED and "private" in row.last_error
    assert http_target.requests == []


def test_a_failing_receiver_is_retried_with_backoff_and_never_twice(page, http_target):
    http_target.queue("/hook", status=503, body="busy")
    http_target.set("/hook", status=200, body="ok")
    fan(page, f"http://127.0.0.1:{http_target.port}/hook", kind="webhook")
    post(page)
    assert send_subscriber_messages() == 0
    row = SubscriberDelivery.objects.get()
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1 and "503" in row.last_error
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=8)
    assert send_subscriber_messages() == 0, "not due yet"
    later = row.next_attempt_at + timedelta(seconds=1)
    assert send_subscriber_messages(now=later) == 1
    assert send_subscriber_messages(now=later + timedelta(hours=1)) == 0
    assert len(http_target.requests) == 2
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT and row.delivered_at is not None


def test_an_smtp_refusal_is_retried(page, smtp_server):
    fan(page)
    post(page)
    smtp_server.refuse_next("451 4.3.0 try again later")
    assert send_subscriber_messages() == 0
    row = SubscriberDelivery.objects.get()
    assert row.status == DeliveryStatus.PENDING and "451" in row.last_error
    assert send_subscriber_messages(now=row.next_attempt_at + timedelta(seconds=1)) == 1
    assert len(smtp_server.messages) == 1


def test_a_row_leased_by_another_sender_is_left_alone_until_its_lease_lapses(page, smtp_server):
    fan(page)
    post(page)
    fan_out()
    now = timezone.now()
    [taken] = claim(now, 10)  # another sender holds it
    assert claim(now, 10) == []
    assert send_subscriber_messages() == 0 and smtp_server.messages == []
    assert send_subscriber_messages(now=taken.claimed_until + timedelta(seconds=1)) == 1
    assert SubscriberDelivery.objects.get().attempts == 2


def test_fanning_out_twice_makes_one_delivery_per_subscriber(page):
    fan(page)
    fan(page, "second@example.com")
    message = post(page)
    fan_out()
    PageMessage.objects.filter(pk=message.pk).update(fanned_out_at=None)  # as if a crash lost the mark
    fan_out()
    assert SubscriberDelivery.objects.filter(message=message).count() == 2


def test_the_same_event_key_queues_one_message(page):
    assert post(page, dedupe_key="k") is not None
    assert post(page, dedupe_key="k") is None
    assert PageMessage.objects.count() == 1


def test_unsubscribing_drops_what_was_not_sent(page, smtp_server):
    subscriber = fan(page)
    post(page)
    fan_out()
    subscriber.delete()
    assert send_subscriber_messages() == 0 and smtp_server.messages == []


def test_the_lane_sends_in_batches_over_few_smtp_sessions(page, smtp_server, monkeypatch):
    monkeypatch.setattr(sending, "BATCH", 7)
    for i in range(20):
        fan(page, f"fan{i}@example.com")
    post(page)
    with override_settings(SUBSCRIBER_CONCURRENCY=2):
        assert send_subscriber_messages() == 20
    assert sorted(e[1][0] for e in smtp_server.envelopes) == sorted(f"fan{i}@example.com" for i in range(20))


def test_cron_mode_sends_subscriber_messages_too(page, smtp_server):
    fan(page)
    post(page)
    done = run_all()
    assert done.subscriber_messages == 1 and len(smtp_server.messages) == 1


# Events from the check engine


def test_with_publish_outages_a_down_and_its_recovery_go_out_by_display_name(alice, page, http_target):
    server = make_server(alice, name="db-primary-7")
    page.groups = [{"name": "Core", "servers": [{"server": server.pk, "display_name": "Database"}]}]
    page.publish_outages = True
    page.save()
    http_target.set("/hook", status=200, body="ok")
    fan(page, f"http://127.0.0.1:{http_target.port}/hook", kind="webhook")
    go_up(server)
    go_down(server, error="connection refused by 10.0.0.7")
    go_up(server)
    sent = send_subscriber_messages()
    # One subscriber's two messages go out in order on one connection; a test server that drops
    # the kept-alive connection makes the second a retry (the lane's backoff), never a loss.
    sent += send_subscriber_messages(now=timezone.now() + timedelta(hours=1)) if sent < 2 else 0
    assert sent == 2
    bodies = [json.loads(r.body) for r in http_target.requests if r.body]
    assert [(b["event"], b["title"]) for b in bodies] == [
        ("down", "Database is down"),
        ("recovery", "Database has recovered"),
    ]
    raw = b"".join(r.body for r in http_target.requests)
    assert b"db-primary-7" not in raw and b"10.0.0.7" not in raw


def test_without_publish_outages_a_down_tells_nobody(alice, page):
    server = make_server(alice)
    page.servers.add(server)
    fan(page)
    go_up(server)
    go_down(server)
    assert not PageMessage.objects.exists()


def test_a_server_on_no_page_of_the_subscribers_tells_nobody(alice, page):
    page.publish_outages = True
    page.save()
    fan(page)
    other = make_server(alice, name="elsewhere")
    go_up(other)
    go_down(other)
    assert not PageMessage.objects.exists()


TUESDAY = 1
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 02:00 Europe/Berlin
AFTER = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def test_a_window_start_and_end_tell_subscribers_once_per_page(alice, page):
    first, second = make_server(alice, name="a", tags=["web"]), make_server(alice, name="b", tags=["web"])
    page.tags = ["web"]
    page.save()
    fan(page)
    window = MaintenanceWindow.objects.create(
        owner=alice, name="patch night", tags=["web"], recurrence="weekly", weekdays=[TUESDAY],
        start_time=time(2, 0), duration_minutes=120, timezone="Europe/Berlin",
    )  # fmt: skip
    go_up(first, START - timedelta(minutes=5))
    go_up(second, START - timedelta(minutes=5))
    maintenance_step(START + timedelta(seconds=1))
    assert first.__class__.objects.get(pk=first.pk).status == Status.MAINTENANCE
    go_up(first, AFTER + timedelta(seconds=1))
    go_up(second, AFTER + timedelta(seconds=2))
    messages = list(PageMessage.objects.order_by("id").values_list("event", "title"))
    assert messages == [
        (PageEvent.MAINTENANCE_START, "Maintenance started: patch night"),
        (PageEvent.MAINTENANCE_END, "Maintenance ended: patch night"),
    ]
    assert window.pk
