"""Healthchecks-style push signals (SPEC §19): start, fail, log, exit statuses, /ping aliases, bodies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import PingKind, PingStatus, Protocol, Status
from monitoring.models import PingResult, Server, ServerStatus, StatusChange
from monitoring.services.engine.push import MAX_BODY, record_log, record_push
from monitoring.services.history.charts import history
from monitoring.services.history.rollups import rollup_hour
from monitoring.services.history.uptime import uptime
from monitoring.services.live.feeds import FeedFilter
from monitoring.services.statuspages import uptime_by_server

pytestmark = pytest.mark.django_db


def make_push(owner, **fields) -> Server:
    values = {"name": "nightly backup", "protocol": Protocol.PUSH, "check_interval": 60, "grace_seconds": 10}
    return Server.objects.create(owner=owner, **(values | fields))


def prefixes(server: Server) -> list[str]:
    return [f"/api/push/{server.push_token}", f"/ping/{server.push_token}"]


def results(server: Server) -> list[PingResult]:
    return list(PingResult.objects.filter(server=server).order_by("id"))


# --- the URLs: every signal under both prefixes, with and without the slash, never redirected -------


@pytest.mark.parametrize("prefix", ["api", "ping"])
@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_signal_path_answers_with_and_without_slash(alice, anon_client, prefix, slash, method):
    server = make_push(alice)
    base = f"/api/push/{server.push_token}" if prefix == "api" else f"/ping/{server.push_token}"
    send = getattr(anon_client, method)
    for signal, kind, status in [
        ("/start", None, None),
        ("/0", PingKind.CHECK, PingStatus.SUCCESS),
        ("/fail", PingKind.CHECK, PingStatus.FAILURE),
        ("/log", PingKind.LOG, PingStatus.SUCCESS),
        ("/3", PingKind.CHECK, PingStatus.FAILURE),
    ]:
        before = PingResult.objects.filter(server=server).count()
        r = send(base + signal + slash)
        assert r.status_code == 200, (signal, r.status_code, r.content)
        assert r.json() == {"ok": True}
        stored = results(server)
        if kind is None:
            assert len(stored) == before
            assert Server.objects.get(pk=server.pk).push_started_at is not None
        else:
            assert len(stored) == before + 1
            assert (stored[-1].kind, stored[-1].status) == (kind, status)


@pytest.mark.parametrize("slash", ["", "/"])
def test_the_ping_url_itself_is_a_success_and_the_bare_push_url_too(alice, anon_client, slash):
    server = make_push(alice)
    r = anon_client.get(f"/ping/{server.push_token}{slash}")
    assert r.status_code == 200 and r.json() == {"ok": True}
    r = anon_client.post(f"/api/push/{server.push_token}", {"status": "down", "msg": "disk full"}, format="json")
    assert r.status_code == 200
    first, second = results(server)
    assert first.status == PingStatus.SUCCESS and first.kind == PingKind.CHECK
    # The plain /api/push/ URL still takes its parameters from the body (SPEC §11), without the slash too.
    assert second.status == PingStatus.FAILURE and second.error_message == "disk full" and second.body == ""


def test_an_unknown_token_or_signal_is_404(alice, anon_client):
    server = make_push(alice)
    assert anon_client.get("/ping/nosuchtoken/fail").status_code == 404
    assert anon_client.get("/api/push/nosuchtoken/0/").status_code == 404
    assert anon_client.get(f"/ping/{server.push_token}/finish").status_code == 404
    assert not PingResult.objects.filter(server=server).exists()


def test_a_paused_monitor_stores_no_signal(alice, anon_client):
    server = make_push(alice, is_active=False)
    for signal in ("start", "fail", "log", "0"):
        r = anon_client.post(f"/ping/{server.push_token}/{signal}", "output", content_type="text/plain")
        assert r.status_code == 409 and r.json()["ok"] is False
    assert not PingResult.objects.filter(server=server).exists()
    assert Server.objects.get(pk=server.pk).push_started_at is None


# --- exit statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (0, PingStatus.SUCCESS, ""),
        (1, PingStatus.FAILURE, "exit status 1"),
        (255, PingStatus.FAILURE, "exit status 255"),
    ],
)
def test_an_exit_status_is_a_success_or_a_failure(alice, anon_client, code, status, message):
    server = make_push(alice)
    for base in prefixes(server):
        r = anon_client.post(f"{base}/{code}")
        assert r.status_code == 200 and r.json() == {"ok": True}
    for result in results(server):
        assert (result.status, result.error_message) == (status, message)
    assert ServerStatus.objects.get(server=server).status == (Status.UP if code == 0 else Status.DOWN)


def test_an_exit_status_with_a_message_says_both(alice, anon_client):
    server = make_push(alice)
    anon_client.get(f"/ping/{server.push_token}/2?msg=rsync+failed")
    assert results(server)[0].error_message == "exit status 2: rsync failed"


@pytest.mark.parametrize("code", ["256", "-1", "1000000"])
def test_an_exit_status_outside_0_to_255_is_400_and_stores_nothing(alice, anon_client, code):
    server = make_push(alice)
    deadline = Server.objects.get(pk=server.pk).push_deadline_at
    for base in prefixes(server):
        for slash in ("", "/"):
            r = anon_client.post(f"{base}/{code}{slash}", "output", content_type="text/plain")
            assert r.status_code == 400, r.content
            assert r.json()["ok"] is False and "exit_status" in r.json()
    assert not PingResult.objects.filter(server=server).exists()
    assert Server.objects.get(pk=server.pk).push_deadline_at == deadline


# --- run time from /start ------------------------------------------------------------------------


def test_a_success_after_start_records_the_run_time(alice, anon_client):
    server = make_push(alice)
    r = anon_client.get(f"/ping/{server.push_token}/start")
    assert r.status_code == 200
    started = Server.objects.get(pk=server.pk).push_started_at
    assert started is not None
    # The run began 42 s ago.
    Server.objects.filter(pk=server.pk).update(push_started_at=started - timedelta(seconds=42))
    assert not PingResult.objects.filter(server=server).exists()  # a start is no result
    anon_client.get(f"/ping/{server.push_token}/0")
    result = results(server)[0]
    assert 42_000 <= result.response_time < 43_000
    # PingResult.response_time is a float4 on PostgreSQL (RealField): equal to its precision.
    assert ServerStatus.objects.get(server=server).last_response_time == pytest.approx(result.response_time, rel=1e-6)
    # The run is over: the next success has no run time.
    assert Server.objects.get(pk=server.pk).push_started_at is None
    anon_client.get(f"/ping/{server.push_token}")
    assert results(server)[1].response_time is None


def test_a_failure_after_start_records_the_run_time_too_and_an_explicit_ping_wins(alice):
    server = make_push(alice)
    now = timezone.now()
    Server.objects.filter(pk=server.pk).update(push_started_at=now - timedelta(seconds=3))
    server.refresh_from_db()
    rec = record_push(server, up=False, msg="exit status 1", now=now)
    assert rec.ping.response_time == pytest.approx(3000)
    Server.objects.filter(pk=server.pk).update(push_started_at=now - timedelta(seconds=3))
    server.refresh_from_db()
    rec = record_push(server, ping=12.5, now=now)
    assert rec.ping.response_time == 12.5


def test_a_log_does_not_end_the_run(alice, anon_client):
    server = make_push(alice)
    anon_client.get(f"/ping/{server.push_token}/start")
    anon_client.post(f"/ping/{server.push_token}/log", "halfway", content_type="text/plain")
    assert Server.objects.get(pk=server.pk).push_started_at is not None


# --- bodies --------------------------------------------------------------------------------------


def test_a_post_body_is_kept_up_to_10_kib(alice, anon_client):
    server = make_push(alice)
    output = ("x" * 1023 + "\n") * 20  # 20 KiB of job output
    r = anon_client.post(f"/ping/{server.push_token}/1", output, content_type="text/plain")
    assert r.status_code == 200
    result = results(server)[0]
    assert result.body == output[:MAX_BODY] and len(result.body) == 10 * 1024
    assert result.error_message == "exit status 1"


def test_a_curl_data_raw_body_is_the_output_not_parameters(alice, anon_client):
    """curl --data-raw sends a form content type: on a signal URL it is output all the same."""
    server = make_push(alice)
    output = "status=down&msg=not+a+parameter"
    anon_client.post(f"/api/push/{server.push_token}/0/", output, content_type="application/x-www-form-urlencoded")
    result = results(server)[0]
    assert result.status == PingStatus.SUCCESS and result.body == output and result.error_message == ""


def test_a_body_that_is_not_utf8_is_kept_as_text(alice, anon_client):
    server = make_push(alice)
    anon_client.post(f"/ping/{server.push_token}/fail", b"caf\xe9 \x00 done", content_type="text/plain")
    assert results(server)[0].body == "caf\ufffd \ufffd done"


def test_a_get_keeps_no_body(alice, anon_client):
    server = make_push(alice)
    anon_client.get(f"/ping/{server.push_token}/log?msg=hello")
    result = results(server)[0]
    assert result.body == "" and result.error_message == "hello" and result.kind == PingKind.LOG


# --- a log counts nowhere ------------------------------------------------------------------------


def test_a_log_leaves_status_uptime_retries_and_the_deadline_alone(alice, anon_client):
    server = make_push(alice, retries=2)
    anon_client.get(f"/ping/{server.push_token}/0")
    anon_client.get(f"/ping/{server.push_token}/1")  # one failure: still UP with retries=2
    before = ServerStatus.objects.get(server=server)
    deadline = Server.objects.get(pk=server.pk).push_deadline_at
    assert before.consecutive_failures == 1 and before.status == Status.UP
    r = anon_client.post(f"/ping/{server.push_token}/log", "step 3 of 5", content_type="text/plain")
    assert r.status_code == 200
    after = ServerStatus.objects.get(server=server)
    for field in ("status", "uptime_percentage", "total_checks", "failed_checks", "last_check", "consecutive_failures"):
        assert getattr(after, field) == getattr(before, field), field
    assert Server.objects.get(pk=server.pk).push_deadline_at == deadline
    log = results(server)[-1]
    assert (log.kind, log.body) == (PingKind.LOG, "step 3 of 5")
    # The log did not reset the count: the next failure is the second in a row, DOWN with retries=2.
    anon_client.get(f"/ping/{server.push_token}/1")
    assert ServerStatus.objects.get(server=server).status == Status.DOWN
    assert StatusChange.objects.filter(server=server).count() == 2  # unknown → up, up → down


def test_a_log_counts_in_no_uptime_history_rollup_or_live_feed(alice):
    server = make_push(alice)
    now = timezone.now()
    record_push(server, up=False, msg="boom", now=now - timedelta(minutes=2))
    record_log(server, msg="a log", now=now - timedelta(minutes=1))
    report = uptime(server, "24h", now=now)
    assert (report["checks"], report["failures"]) == (1, 1)
    buckets = [b for b in history(server, "24h", now=now)["buckets"] if b["checks"]]
    assert sum(b["checks"] for b in buckets) == 1
    hour = (now - timedelta(minutes=1)).replace(minute=0, second=0, microsecond=0)
    rollups = rollup_hour(hour) + rollup_hour(hour - timedelta(hours=1))
    assert sum(r.checks for r in rollups if r.server_id == server.pk) == 1
    assert uptime_by_server([server.pk], now)[server.pk]["24h"] == 0.0
    assert [p.kind for p in FeedFilter().pings(alice)] == [PingKind.CHECK]


# --- the API shows kind and body -----------------------------------------------------------------


def test_ping_results_show_kind_and_body_and_filter_by_kind(alice, alice_client, anon_client):
    server = make_push(alice)
    anon_client.post(f"/ping/{server.push_token}/1", "Traceback: oops", content_type="text/plain")
    anon_client.post(f"/ping/{server.push_token}/log", "a line", content_type="text/plain")
    rows = alice_client.get(f"/api/ping-results/?server={server.pk}").json()["results"]
    assert [(r["kind"], r["body"]) for r in rows] == [("log", "a line"), ("check", "Traceback: oops")]
    rows = alice_client.get(f"/api/ping-results/?server={server.pk}&kind=log").json()["results"]
    assert [r["body"] for r in rows] == ["a line"]


def test_ping_urls_run_in_the_push_lane():
    """/ping/ requests share the pushes' threads and backlog (core.shared_threads), as /api/push/ do."""
    from core.shared_threads import PUSHES

    assert PUSHES.matches("/ping/abc") and PUSHES.matches("/ping/abc/0/") and PUSHES.matches("/api/push/abc/log")
    assert not PUSHES.matches("/pings/") and not PUSHES.matches("/api/servers/")
