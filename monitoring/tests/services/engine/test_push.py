"""Push (heartbeat) monitors: the push URL, its token, and the missed-deadline step (SPEC §11)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from api.serializers.servers import ServerSerializer
from monitoring.choices import AlertEvent, PingStatus, Protocol, Status
from monitoring.models import NotificationDelivery, PingResult, Server, StatusChange
from monitoring.services.engine import checks
from monitoring.services.engine.push import record_push
from monitoring.tasks.claims import claim_due
from monitoring.tasks.engine import run_check
from monitoring.tasks.push import push_step
from monitoring.tasks.scheduler import Scheduler
from monitoring.tests.alerting import make_config

pytestmark = pytest.mark.django_db


def make_push(owner, **fields) -> Server:
    values = {"name": "nightly backup", "protocol": Protocol.PUSH, "check_interval": 60, "grace_seconds": 10}
    return Server.objects.create(owner=owner, **(values | fields))


def push_url(server: Server) -> str:
    return f"/api/push/{server.push_token}/"


# A push with its parameters in a form body: Django's view answers it, on the push threads
# (core.shared_threads); one without a body takes the lean path (api.lean_push).
FORM = b"ping=1"
FORM_HEADERS = [
    (b"host", b"127.0.0.1"),
    (b"content-type", b"application/x-www-form-urlencoded"),
    (b"content-length", str(len(FORM)).encode()),
]


# --- the server API ------------------------------------------------------------------------


def test_a_push_server_needs_no_host_and_shows_its_token_and_absolute_url(alice_client):
    r = alice_client.post("/api/servers/", {"name": "cron", "protocol": "push", "grace_seconds": 30}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    server = Server.objects.get(pk=body["id"])
    assert len(server.push_token) >= 32 and body["push_token"] == server.push_token
    assert body["push_url"] == f"http://testserver/api/push/{server.push_token}/"
    assert body["grace_seconds"] == 30 and body["status"] == "unknown"


def test_other_protocols_still_need_a_host_and_have_no_push_token(alice_client):
    r = alice_client.post("/api/servers/", {"name": "web", "protocol": "https"}, format="json")
    assert r.status_code == 400 and "host" in r.json()
    r = alice_client.post("/api/servers/", {"name": "web", "protocol": "https", "host": "example.com"}, format="json")
    assert r.status_code == 201
    assert r.json()["push_token"] is None and r.json()["push_url"] is None
    assert Server.objects.get(pk=r.json()["id"]).push_deadline_at is None


@pytest.mark.parametrize("grace", [-1, 86_401, "x"])
def test_grace_seconds_out_of_range_is_400(alice_client, grace):
    r = alice_client.post("/api/servers/", {"name": "c", "protocol": "push", "grace_seconds": grace}, format="json")
    assert r.status_code == 400 and "grace_seconds" in r.json()


@override_settings(PUBLIC_URL="https://pulseguard.example.com")
def test_without_a_request_the_push_url_is_built_from_public_url(alice):
    server = make_push(alice)
    assert ServerSerializer(server).data["push_url"] == f"https://pulseguard.example.com/api/push/{server.push_token}/"


def test_check_now_on_a_push_server_is_400_and_stores_nothing(alice, alice_client):
    server = make_push(alice)
    r = alice_client.post(f"/api/servers/{server.pk}/check/")
    assert r.status_code == 400 and "push" in r.json()["detail"]
    assert not PingResult.objects.filter(server=server).exists()


def test_a_new_push_token_replaces_the_old_one(alice, alice_client, anon_client):
    server = make_push(alice)
    old = server.push_token
    r = alice_client.post(f"/api/servers/{server.pk}/push-token/")
    assert r.status_code == 200
    new = r.json()["push_token"]
    assert new != old and Server.objects.get(pk=server.pk).push_token == new
    assert anon_client.get(f"/api/push/{old}/").status_code == 404
    assert anon_client.get(f"/api/push/{new}/").status_code == 200


def test_push_token_of_another_users_server_is_404_and_of_a_probed_server_400(alice, charlie_client, alice_client):
    server = make_push(alice)
    assert charlie_client.post(f"/api/servers/{server.pk}/push-token/").status_code == 404
    web = Server.objects.create(owner=alice, name="web", protocol="https", host="example.com")
    assert alice_client.post(f"/api/servers/{web.pk}/push-token/").status_code == 400


# --- the push endpoint --------------------------------------------------------------------


def test_a_get_without_parameters_is_an_up_push(alice, anon_client):
    server = make_push(alice)
    r = anon_client.get(push_url(server))
    assert (r.status_code, r.json()) == (200, {"ok": True})
    ping = PingResult.objects.get(server=server)
    assert (ping.status, ping.error_message, ping.maintenance) == (PingStatus.SUCCESS, "", False)
    assert Server.objects.get(pk=server.pk).status == Status.UP


def test_a_json_down_push_is_a_failure_with_its_message_and_time(alice, anon_client):
    server = make_push(alice)
    r = anon_client.post(push_url(server), {"status": "down", "msg": "disk full", "ping": 1234.5}, format="json")
    assert r.status_code == 200
    ping = PingResult.objects.get(server=server)
    assert (ping.status, ping.error_message, ping.response_time) == (PingStatus.FAILURE, "disk full", 1234.5)
    state = Server.objects.get(pk=server.pk).server_status
    assert (state.status, state.message) == (Status.DOWN, "disk full")


def test_form_and_query_string_parameters_are_read(alice, anon_client):
    server = make_push(alice)
    assert anon_client.post(push_url(server), {"status": "down", "msg": "from form"}).status_code == 200
    assert anon_client.get(push_url(server) + "?status=up&ping=7").status_code == 200
    pings = list(PingResult.objects.filter(server=server).order_by("id"))
    assert [(p.status, p.error_message, p.response_time) for p in pings] == [
        (PingStatus.FAILURE, "from form", None),
        (PingStatus.SUCCESS, "", 7.0),
    ]


def test_an_unknown_token_is_404_with_ok_false(db, anon_client):
    r = anon_client.get("/api/push/" + "x" * 43 + "/")
    assert r.status_code == 404 and r.json()["ok"] is False and r.json()["detail"]


@pytest.mark.parametrize(
    "params", [{"status": "sideways"}, {"ping": -1}, {"ping": "fast"}, {"msg": "x" * 501}, {"msg": "a\x00b"}]
)
def test_bad_parameters_are_400_and_store_nothing(alice, anon_client, params):
    server = make_push(alice)
    r = anon_client.post(push_url(server), params, format="json")
    assert r.status_code == 400 and r.json()["ok"] is False
    assert not PingResult.objects.filter(server=server).exists()


def test_a_json_body_that_is_not_an_object_is_400(alice, anon_client):
    server = make_push(alice)
    r = anon_client.post(push_url(server), ["up"], format="json")
    assert r.status_code == 400 and not PingResult.objects.exists()


def test_a_push_to_a_paused_server_is_409_and_stores_nothing(alice, anon_client):
    server = make_push(alice)
    checks.pause(server)
    r = anon_client.get(push_url(server))
    assert r.status_code == 409 and r.json()["ok"] is False
    assert not PingResult.objects.filter(server=server).exists()
    assert Server.objects.get(pk=server.pk).status == Status.PAUSED


@override_settings(PUSH_THROTTLE_RATE="2/minute")
def test_pushes_are_throttled_per_token(alice, anon_client):
    one, two = make_push(alice), make_push(alice, name="other")
    assert [anon_client.get(push_url(one)).status_code for _ in range(2)] == [200, 200]
    r = anon_client.get(push_url(one))
    assert r.status_code == 429 and int(r["Retry-After"]) > 0 and r.json()["ok"] is False
    assert anon_client.get(push_url(two)).status_code == 200, "another token has its own budget"
    assert PingResult.objects.filter(server=one).count() == 2


def test_pushes_follow_retries_and_the_degraded_threshold(alice, anon_client):
    server = make_push(alice, retries=2, degraded_threshold_ms=500)
    anon_client.get(push_url(server) + "?ping=900")
    assert Server.objects.get(pk=server.pk).status == Status.DEGRADED
    anon_client.get(push_url(server) + "?status=down")
    assert Server.objects.get(pk=server.pk).status == Status.DEGRADED, "one failure of two"
    anon_client.get(push_url(server) + "?status=down")
    assert Server.objects.get(pk=server.pk).status == Status.DOWN


def test_a_down_push_queues_one_alert_and_the_next_up_its_recovery(alice, anon_client):
    server = make_push(alice)
    make_config(server)
    anon_client.get(push_url(server))
    anon_client.get(push_url(server) + "?status=down&msg=backup+failed")
    anon_client.get(push_url(server) + "?status=down&msg=backup+failed")
    anon_client.get(push_url(server))
    events = list(NotificationDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == [AlertEvent.DOWN, AlertEvent.RECOVERY]


def test_a_push_moves_the_deadline_to_interval_plus_grace_after_it(alice):
    server = make_push(alice, check_interval=60, grace_seconds=10)
    at = timezone.now() + timedelta(seconds=30)
    record_push(server, now=at)
    assert Server.objects.get(pk=server.pk).push_deadline_at == at + timedelta(seconds=70)


# --- never probed ------------------------------------------------------------------------


def test_push_servers_are_never_claimed_as_due_checks(alice):
    server = make_push(alice)
    web = Server.objects.create(owner=alice, name="web", protocol="https", host="example.com")
    later = timezone.now() + timedelta(days=1)
    assert [s.pk for s in claim_due(later, owner="engine")] == [web.pk]
    server.refresh_from_db()
    assert (server.lease_owner, server.lease_until) == ("", None), "the engine's claim never leases a push server"
    with pytest.raises(checks.NotProbed):
        run_check(server)


def test_check_servers_all_does_not_probe_push_servers(alice, capsys):
    server = make_push(alice)
    call_command("check_servers", "--all")
    assert not PingResult.objects.filter(server=server).exists()
    assert "Checking 0 server(s)" in capsys.readouterr().out


# --- missed deadlines --------------------------------------------------------------------


def test_a_new_push_server_is_due_interval_plus_grace_after_creation(alice):
    before = timezone.now()
    server = make_push(alice, check_interval=60, grace_seconds=10)
    assert before + timedelta(seconds=70) <= server.push_deadline_at <= timezone.now() + timedelta(seconds=70)


def test_silence_past_the_deadline_records_one_timeout_per_interval(alice):
    server = make_push(alice, check_interval=60, grace_seconds=10)
    deadline = server.push_deadline_at
    assert push_step(deadline - timedelta(seconds=1)) == []
    [rec] = push_step(deadline + timedelta(seconds=1))
    assert (rec.ping.status, rec.ping.error_message) == (PingStatus.TIMEOUT, "no push within 70 s")
    assert rec.state.status == Status.DOWN
    assert push_step(deadline + timedelta(seconds=2)) == [], "a deadline is recorded once"
    assert Server.objects.get(pk=server.pk).push_deadline_at == deadline + timedelta(seconds=60)
    assert len(push_step(deadline + timedelta(seconds=61))) == 1, "each further interval of silence fails"
    assert PingResult.objects.filter(server=server, status=PingStatus.TIMEOUT).count() == 2


def test_a_scheduler_back_after_hours_records_one_failure_not_one_per_missed_interval(alice):
    server = make_push(alice, check_interval=60, grace_seconds=0)
    much_later = server.push_deadline_at + timedelta(hours=3)
    assert len(push_step(much_later)) == 1
    assert push_step(much_later + timedelta(seconds=1)) == []
    assert Server.objects.get(pk=server.pk).push_deadline_at == much_later + timedelta(seconds=60)


def test_a_paused_push_server_misses_no_deadline_and_resume_gives_it_a_fresh_one(alice):
    server = make_push(alice, check_interval=60, grace_seconds=10)
    checks.pause(server)
    assert push_step(timezone.now() + timedelta(days=1)) == []
    before = timezone.now()
    checks.resume(server)
    deadline = Server.objects.get(pk=server.pk).push_deadline_at
    assert deadline >= before + timedelta(seconds=70)
    assert push_step(deadline - timedelta(seconds=1)) == []


def test_a_push_url_keeps_a_monitor_up_and_its_silence_takes_it_down_once_within_the_grace(alice, anon_client):
    """Done when: a cron job's push URL keeps a push monitor up, and its silence takes it down
    within the grace period with one alert."""
    server = make_push(alice, check_interval=60, grace_seconds=30)
    make_config(server)
    start = timezone.now()
    for minute in range(3):  # the job runs every minute: each push moves the deadline on
        record_push(server, now=start + timedelta(minutes=minute))
        assert push_step(start + timedelta(minutes=minute, seconds=59)) == []
    assert Server.objects.get(pk=server.pk).status == Status.UP
    last = start + timedelta(minutes=2)
    assert push_step(last + timedelta(seconds=89)) == [], "still inside interval + grace"
    [rec] = push_step(last + timedelta(seconds=91))
    assert rec.state.status == Status.DOWN
    push_step(last + timedelta(seconds=151))  # one more interval of silence: still one alert
    downs = NotificationDelivery.objects.filter(config__servers=server, event=AlertEvent.DOWN)
    assert downs.count() == 1
    assert StatusChange.objects.filter(server=server, status=Status.DOWN).count() == 1


def test_the_scheduler_runs_the_push_and_maintenance_steps_every_few_seconds():
    jobs = {job_id: seconds for job_id, _, seconds in Scheduler().jobs()}
    assert jobs["push-deadlines"] <= 5 and jobs["maintenance"] <= 5


@pytest.mark.django_db(transaction=True)  # the step closes stale connections, as a worker must
def test_the_scheduler_push_step_records_a_missed_deadline(alice):
    server = make_push(alice)
    Server.objects.filter(pk=server.pk).update(push_deadline_at=timezone.now() - timedelta(seconds=1))
    assert Scheduler().push_step() is True
    assert PingResult.objects.get(server=server).status == PingStatus.TIMEOUT


@pytest.mark.django_db(transaction=True)  # the request runs on another thread, with its own connection
async def test_under_asgi_pushes_with_a_body_run_on_the_shared_push_threads(alice, monkeypatch):
    # A push without a body takes the lean path (api.lean_push, api/tests/test_lean_push.py).
    import threading

    from asgiref.sync import sync_to_async
    from channels.testing import HttpCommunicator

    from api import views
    from core.asgi import application
    from tests.live import close_worker_connections

    server = await sync_to_async(make_push)(alice)
    seen: list[str] = []
    real = views.push.record_push

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(views.push, "record_push", spy)
    communicator = HttpCommunicator(application, "POST", push_url(server), body=FORM, headers=FORM_HEADERS)
    try:
        response = await communicator.get_response(timeout=10)
        stored = await PingResult.objects.filter(server=server).acount()
    finally:
        # The pool's thread keeps its connection (that is its point), as does asgiref's thread
        # for this test's ORM calls; closed, or the test database cannot be dropped at the end.
        await close_worker_connections()
    assert response["status"] == 200 and stored == 1
    assert len(seen) == 1 and seen[0].startswith("push")


def test_an_edit_holding_an_old_copy_does_not_move_the_deadline_back(alice, alice_client):
    server = make_push(alice)
    stale = Server.objects.get(pk=server.pk)
    pushed = record_push(server, now=timezone.now() + timedelta(minutes=5))
    deadline = Server.objects.get(pk=server.pk).push_deadline_at
    assert pushed.ping is not None and deadline > stale.push_deadline_at
    stale.name = "renamed"
    stale.save()
    assert Server.objects.values_list("name", "push_deadline_at").get(pk=server.pk) == ("renamed", deadline)


def test_switching_a_server_to_push_and_back_sets_and_clears_token_and_deadline(alice, alice_client):
    web = Server.objects.create(owner=alice, name="web", protocol="https", host="example.com")
    r = alice_client.patch(f"/api/servers/{web.pk}/", {"protocol": "push"}, format="json")
    assert r.status_code == 200 and r.json()["push_token"]
    web.refresh_from_db()
    assert web.push_token and web.push_deadline_at is not None
    r = alice_client.patch(f"/api/servers/{web.pk}/", {"protocol": "https"}, format="json")
    assert r.status_code == 200 and r.json()["push_token"] is None
    web.refresh_from_db()
    assert web.push_token is None and web.push_deadline_at is None


def test_a_new_interval_or_grace_counts_from_the_last_push(alice, alice_client):
    server = make_push(alice, check_interval=60, grace_seconds=10)
    pushed_at = timezone.now() - timedelta(seconds=30)
    record_push(server, now=pushed_at)
    r = alice_client.patch(f"/api/servers/{server.pk}/", {"grace_seconds": 600}, format="json")
    assert r.status_code == 200
    assert Server.objects.get(pk=server.pk).push_deadline_at == pushed_at + timedelta(seconds=660)


def test_a_push_reaches_the_live_feeds_as_a_check(alice, anon_client, monkeypatch, django_capture_on_commit_callbacks):
    from monitoring.services.live import publish

    server = make_push(alice)
    sent = []
    monkeypatch.setattr(publish, "publish_checks", lambda checks: sent.extend(checks))
    with django_capture_on_commit_callbacks(execute=True):
        anon_client.get(push_url(server) + "?status=down&msg=late")
    [(published, ping, state)] = sent
    assert published.pk == server.pk and ping.error_message == "late" and state.status == Status.DOWN


def test_check_servers_server_id_of_a_push_monitor_says_why_it_is_not_checked(alice):
    from django.core.management.base import CommandError

    server = make_push(alice)
    with pytest.raises(CommandError, match="push monitor is never checked"):
        call_command("check_servers", "--server", str(server.pk))
    assert not PingResult.objects.filter(server=server).exists()


def test_a_push_to_an_unknown_token_writes_no_counter(anon_client):
    # Anyone can make up tokens: only a real monitor's pushes are counted (and stored).
    from authentication.models import RateCounter

    assert anon_client.get("/api/push/made-up-token/").status_code == 404
    assert not RateCounter.objects.exists()


@pytest.mark.django_db(transaction=True)  # the requests run on the push threads, with their own connections
async def test_an_overloaded_web_process_sheds_pushes_at_once_and_stores_only_the_answered_ones(alice, monkeypatch):
    # Issue 14 D.26: at 300 pushes a second most clients timed out after 30 s, yet many of
    # those pushes were stored later (a cron job that retries then pushes twice). Past the
    # threads and PUSH_QUEUE_MAX waiting, a push is answered 503 with Retry-After at once.
    import threading

    from asgiref.sync import sync_to_async
    from channels.testing import HttpCommunicator

    from api import views
    from core.asgi import application
    from core.shared_threads import PUSHES
    from tests.live import close_worker_connections

    server = await sync_to_async(make_push)(alice)
    release = threading.Event()
    real = views.push.record_push

    def slow(*args, **kwargs):
        release.wait(20)  # the database is slow: every thread is busy
        return real(*args, **kwargs)

    monkeypatch.setattr(views.push, "record_push", slow)
    overrides = override_settings(PUSH_QUEUE_MAX=2)
    overrides.enable()
    capacity = PUSHES.threads() + 2
    extra = 3

    def request() -> Any:
        return HttpCommunicator(application, "POST", push_url(server), body=FORM, headers=FORM_HEADERS)

    try:
        busy = [asyncio.ensure_future(request().get_response(timeout=30)) for _ in range(capacity)]
        await asyncio.sleep(0.5)
        started = time.monotonic()
        shed = [await request().get_response(timeout=5) for _ in range(extra)]
        assert time.monotonic() - started < 3, "overload is answered at once"
        release.set()
        answered = await asyncio.gather(*busy)
        stored = await PingResult.objects.filter(server=server).acount()
    finally:
        release.set()
        overrides.disable()
        await close_worker_connections()
    assert [r["status"] for r in shed] == [503] * extra
    assert all(int(dict(r["headers"])[b"retry-after"]) > 0 for r in shed)
    assert json.loads(shed[0]["body"])["ok"] is False
    assert [r["status"] for r in answered] == [200] * capacity
    assert stored == capacity, "only the pushes answered 200 are stored"


@pytest.mark.django_db(transaction=True)
async def test_a_push_that_waited_too_long_for_a_thread_is_503_and_not_stored(alice, monkeypatch):
    from asgiref.sync import sync_to_async
    from channels.testing import HttpCommunicator

    from api import views
    from core.asgi import application
    from core.shared_threads import PUSHES
    from tests.live import close_worker_connections

    server = await sync_to_async(make_push)(alice)
    real = views.push.record_push

    def slow(*args, **kwargs):
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(views.push, "record_push", slow)
    overrides = override_settings(PUSH_MAX_WAIT_SECONDS=1)
    overrides.enable()

    def request() -> Any:
        return HttpCommunicator(application, "POST", push_url(server), body=FORM, headers=FORM_HEADERS)

    try:
        first = [asyncio.ensure_future(request().get_response(timeout=30)) for _ in range(PUSHES.threads())]
        await asyncio.sleep(0.2)
        late = await request().get_response(timeout=30)
        answered = await asyncio.gather(*first)
        stored = await PingResult.objects.filter(server=server).acount()
    finally:
        overrides.disable()
        await close_worker_connections()
    assert late["status"] == 503 and int({k.lower(): v for k, v in late["headers"]}[b"retry-after"]) > 0
    assert [r["status"] for r in answered] == [200] * PUSHES.threads()
    assert stored == PUSHES.threads()
