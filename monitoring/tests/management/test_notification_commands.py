"""Where sending runs: send_notifications, check_servers after its pass, and the scheduler's job."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from monitoring.choices import DeliveryStatus, NotificationType, Protocol, Status
from monitoring.models import Incident, NotificationDelivery, Server
from monitoring.services.alerts import delivery
from monitoring.services.alerts.notifiers.messages import humanize_seconds
from monitoring.services.engine import checks
from monitoring.tasks import claims
from monitoring.tasks.engine import run_once
from monitoring.tasks.scheduler import Scheduler
from monitoring.tests.alerting import SECRET, go_down, make_config, make_server, signature_ok
from tests.targets import LocalHTTPServer


def test_send_notifications_does_one_pass_over_what_is_due(alice, http_target):
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    out = StringIO()
    call_command("send_notifications", stdout=out)
    assert "Handled 1 notification(s); 0 still queued." in out.getvalue()
    assert NotificationDelivery.objects.get().status == DeliveryStatus.SENT
    call_command("send_notifications", stdout=StringIO())
    assert len(http_target.requests) == 1


def test_check_servers_sends_the_alerts_its_pass_queued_before_it_exits(alice, smtp_server):
    with LocalHTTPServer() as target, LocalHTTPServer() as receiver:
        target.set("/", 503)
        receiver.set("/hook", 200)
        server = Server.objects.create(
            owner=alice, name="shop", protocol=Protocol.HTTP, host="127.0.0.1", port=target.port, timeout=10
        )
        make_config(server, recipient=receiver.url("/hook"))
        make_config(server, NotificationType.EMAIL, "ops@example.com")
        out = StringIO()
        call_command("check_servers", "--server", str(server.pk), stdout=out)
        assert "Sent 2 notification(s)," in out.getvalue()
        target.set("/", 200)
        call_command("check_servers", "--server", str(server.pk), stdout=StringIO())

    assert [r.json()["event"] for r in receiver.requests] == ["down", "recovery"]
    # The recovery says how long it was down: the closed incident's duration (0 s, or more on a busy machine).
    downtime = humanize_seconds(Incident.objects.get(server=server).duration_seconds)
    assert [m["Subject"].split(" is ")[1] for m in smtp_server.messages] == ["DOWN", f"back UP after {downtime}"]
    assert set(NotificationDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_check_servers_also_sends_retries_that_are_due(alice, http_target):
    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    go_down(server)
    checks.pause(server)  # nothing to check: only the retry is left to do
    NotificationDelivery.objects.update(attempts=2, next_attempt_at=timezone.now() - timedelta(seconds=1))
    call_command("check_servers", stdout=StringIO())
    assert NotificationDelivery.objects.get().status == DeliveryStatus.SENT


# The steps close stale connections, as a long-running process must; so, real transactions.
@pytest.mark.django_db(transaction=True)
@override_settings(NOTIFICATION_SEND_INTERVAL=3)
def test_the_scheduler_runs_a_sender_every_few_seconds(alice, http_target):
    scheduler = Scheduler()
    assert "notifications" in {job.id for job in scheduler.build().get_jobs()}  # other jobs may join
    jobs = {job_id: (step, seconds) for job_id, step, seconds in scheduler.jobs()}
    assert jobs["notifications"] == (scheduler.send_step, 3)  # each run is followed by the next 3 s later

    http_target.set("/hook", 200)
    server = make_server(alice)
    make_config(server, recipient=http_target.url("/hook"))
    assert scheduler.send_step() is False
    go_down(server)
    assert scheduler.send_step() is True
    assert NotificationDelivery.objects.get().status == DeliveryStatus.SENT


class Running:
    """The scheduler's two jobs running while a test waits for something.

    On PostgreSQL the real scheduler (check engine and APScheduler jobs) runs in the background.
    SQLite's shared in-memory test database answers "table is locked" to concurrent writers instead of waiting, so
    there the same two steps run in turn in this thread, on the same ticks.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.background = connection.vendor == "postgresql"

    def __enter__(self) -> Running:
        if self.background:
            self.scheduler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.background:
            self.scheduler.shutdown()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {condition.__doc__}")
            if not self.background:
                owner = claims.new_owner()
                run_once(claims.claim_due(timezone.now(), owner=owner), claimed_by=owner)
                self.scheduler.send_step()
            time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
@override_settings(NOTIFICATION_SEND_INTERVAL=1)
def test_a_new_user_gets_one_down_and_one_recovery_by_webhook_and_email_even_if_the_webhook_was_down(
    django_user_model, smtp_server, monkeypatch
):
    """The issue's "done when": the scheduler runs; the webhook receiver is down during the outage."""
    monkeypatch.setattr(delivery, "FIRST_RETRY_SECONDS", 1)  # the same doubling, faster
    # The scheduler's worker threads then close their connections after each step, so the
    # test database can be dropped at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    owner = django_user_model.objects.create_user("newcomer")
    with LocalHTTPServer() as target, LocalHTTPServer() as receiver:
        target.set("/", 500, "broken")
        receiver.set("/hook", 503, "receiver restarting")
        server = Server.objects.create(
            owner=owner, name="shop", protocol=Protocol.HTTP, host="127.0.0.1", port=target.port, timeout=10
        )
        make_config(server, recipient=receiver.url("/hook"))
        make_config(server, NotificationType.EMAIL, "ops@example.com")

        def webhook_failed_twice() -> bool:
            """the DOWN to fail at the webhook receiver twice"""
            # Counted at the receiver: a delivery's attempts go up when it is claimed, before
            # its request has arrived.
            return sum(1 for r in receiver.requests if r.path == "/hook") >= 2

        def all_sent() -> bool:
            """four deliveries sent"""
            return NotificationDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 4

        def never() -> bool:
            """a few more ticks"""
            return time.monotonic() > quiet_until

        with Running(Scheduler(tick_seconds=0.2)) as running:
            running.wait_for(webhook_failed_twice)
            assert Server.objects.get(pk=server.pk).status == Status.DOWN
            receiver.set("/hook", 200)
            target.set("/", 200)
            Server.objects.filter(pk=server.pk).update(next_check_at=timezone.now())
            running.wait_for(all_sent)
            quiet_until = time.monotonic() + 2
            running.wait_for(never)  # nothing goes out twice

    accepted = [r for r in receiver.requests if r.path == "/hook"]
    assert len(accepted) >= 4  # two or more refused DOWN attempts, then DOWN and recovery
    delivered = [r.json() for r in accepted[-2:]]
    assert [body["event"] for body in delivered] == ["down", "recovery"]
    assert delivered[1]["downtime_seconds"] >= 0 and delivered[1]["previous_status"] == "down"
    assert all(signature_ok(SECRET, r.body, r.headers["X-PulseGuard-Signature"]) for r in accepted)
    assert [m["Subject"].split(" is ")[1].split(" after")[0] for m in smtp_server.messages] == ["DOWN", "back UP"]
    assert NotificationDelivery.objects.count() == 4
    assert Incident.objects.get(server=server).ended_at is not None
