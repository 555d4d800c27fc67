"""The lean push path (api.lean_push): pushes without a body answered by a group commit, as the DRF
view answers them (SPEC §11, §19; issue 20)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from django.utils import timezone

from api import lean_push
from api.lean_push import Pending, PushLane, answer, clean
from api.serializers.servers import PushSerializer
from authentication.models import RateCounter
from authentication.throttle import hit_many
from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import PingResult, Server
from monitoring.services.engine import checks

pytestmark = pytest.mark.django_db


def make_push(owner: Any, **fields: Any) -> Server:
    values = {"name": "nightly backup", "protocol": Protocol.PUSH, "check_interval": 60, "grace_seconds": 10}
    return Server.objects.create(owner=owner, **(values | fields))


def pending(server_or_token: Server | str, signal: str | None = None, **params: str) -> Pending:
    token = server_or_token if isinstance(server_or_token, str) else server_or_token.push_token
    return Pending(token, signal, params, time.monotonic(), timezone.now())


# --- the parameters are checked as the DRF serializer checks them ------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "down", "msg": "  disk full  ", "ping": "12.5", "value": "97"},
        {"status": "sideways"},
        {"status": ""},
        {"msg": "x" * 501},
        {"msg": "a\x00b"},
        {"msg": "x" * 500 + "\x00"},
        {"msg": "   "},
        {"ping": ""},
        {"ping": "-1"},
        {"ping": "fast"},
        {"ping": "nan"},
        {"ping": "inf"},
        {"ping": "86400001"},
        {"ping": "1" * 1001},
        {"ping": " 7 "},
        {"value": ""},
        {"value": "nan"},
        {"value": "1e309"},
        {"value": "ten"},
        {"status": "down", "ping": "x", "value": "y", "msg": "m"},
    ],
)
def test_parameters_get_the_serializers_values_and_errors(params):
    serializer = PushSerializer(data=params)
    data, errors = clean(params)
    assert errors == {
        field: [str(e) for e in said]
        for field, said in (serializer.errors if not serializer.is_valid() else {}).items()
    }
    if not errors:
        assert data == dict(serializer.validated_data)


# --- a batch is answered as pushes one by one would be -----------------------------------------


def test_a_batch_is_recorded_in_order_at_each_pushs_time(alice):
    server, other = make_push(alice, retries=0), make_push(alice, name="other")
    batch = [pending(server), pending(other, ping="5"), pending(server, status="down", msg="disk full")]
    assert [a[0] for a in answer(batch)] == [200, 200, 200]
    pings = list(PingResult.objects.filter(server=server).order_by("id"))
    assert [(p.status, p.error_message, p.check_timestamp) for p in pings] == [
        (PingStatus.SUCCESS, "", batch[0].at),
        (PingStatus.FAILURE, "disk full", batch[2].at),
    ]
    assert PingResult.objects.get(server=other).response_time == 5.0
    assert Server.objects.get(pk=server.pk).status == Status.DOWN
    assert Server.objects.get(pk=server.pk).push_deadline_at == batch[2].at + server.push_window * timezone.timedelta(
        seconds=1
    )


def test_each_push_gets_the_answer_the_drf_view_gives(alice):
    server = make_push(alice)
    paused = make_push(alice, name="paused")
    checks.pause(paused)
    batch = [
        pending("x" * 43),
        pending(server, ping="-1"),
        pending(server, signal="256"),
        pending(paused),
        pending(server, signal="fail", msg="boom"),
        pending(server, signal="3", msg="oops"),
        pending(server, signal="0"),
    ]
    answers = answer(batch)
    assert [a[0] for a in answers] == [404, 400, 400, 409, 200, 200, 200]
    assert answers[1][1] == {"ok": False, "ping": ["Ensure this value is greater than or equal to 0."]}
    assert answers[2][1] == {"ok": False, "exit_status": ["An exit status is 0 to 255."]}
    pings = PingResult.objects.filter(server=server).order_by("id")
    assert [(p.status, p.error_message) for p in pings] == [
        (PingStatus.FAILURE, "boom"),
        (PingStatus.FAILURE, "exit status 3: oops"),
        (PingStatus.SUCCESS, ""),
    ]
    assert not PingResult.objects.filter(server=paused).exists()


@override_settings(PUSH_THROTTLE_RATE="2/minute")
def test_the_throttle_counts_every_push_of_a_known_token_and_refuses_past_it(alice):
    server, other = make_push(alice), make_push(alice, name="other")
    answers = answer([pending(server), pending(server), pending(other), pending(server)])
    assert [a[0] for a in answers] == [200, 200, 200, 429]
    assert answers[3][2] > 0 and "throttled" in answers[3][1]["detail"]
    assert answer([pending(server)])[0][0] == 429
    assert PingResult.objects.filter(server=server).count() == 2
    assert answer([pending("y" * 43)])[0][0] == 404
    assert set(RateCounter.objects.values_list("key", flat=True)) == {f"push:{server.pk}", f"push:{other.pk}"}


def test_a_push_that_waited_too_long_is_503_and_not_stored(alice):
    server = make_push(alice)
    stale = pending(server)
    stale.arrived -= 11  # PUSH_MAX_WAIT_SECONDS is 10
    assert [a[0] for a in answer([stale, pending(server)])] == [503, 200]
    assert PingResult.objects.filter(server=server).count() == 1


def test_when_the_batch_fails_each_push_is_recorded_alone(alice, monkeypatch):
    server, other = make_push(alice), make_push(alice, name="other")
    real = lean_push.record

    def fails_on_batches(batch):
        if len(batch) > 1:
            raise RuntimeError("one bad push sank the batch")
        if batch[0].server.pk == other.pk:
            raise RuntimeError("this one cannot be stored")
        return real(batch)

    monkeypatch.setattr(lean_push, "record", fails_on_batches)
    answers = answer([pending(server), pending(other), pending(server)])
    assert [a[0] for a in answers] == [200, 503, 200]
    assert PingResult.objects.filter(server=server).count() == 2
    assert not PingResult.objects.filter(server=other).exists()


def test_a_server_deleted_before_its_push_is_written_is_404(alice, monkeypatch):
    server = make_push(alice)
    real = lean_push.record

    def delete_first(batch):
        Server.objects.filter(pk=server.pk).delete()
        return real(batch)

    monkeypatch.setattr(lean_push, "record", delete_first)
    assert answer([pending(server)])[0][0] == 404


def test_hit_many_counts_each_key_by_its_amount_in_one_window(db):
    first = hit_many({"push:2": 3, "push:1": 1}, 60)
    again = hit_many({"push:1": 2}, 60)
    assert first["push:2"][0] == 3 and first["push:1"][0] == 1 and again["push:1"][0] == 3
    assert first["push:1"][1] == pytest.approx(time.time() + 60, abs=5)
    assert hit_many({}, 60) == {}


# --- the lane: group commit, bounded queue --------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the lane's thread has its own connection
def test_the_lane_answers_after_the_commit_and_sheds_past_its_queue_at_once(alice):
    server = make_push(alice)
    lane = PushLane("test-lane")
    release = threading.Event()
    try:
        busy = threading.Event()
        blocked = lane.call(lambda: busy.set() or release.wait(20))  # the database is slow: the lane is busy
        assert busy.wait(10)
        with override_settings(PUSH_QUEUE_MAX=3):
            queued = [lane.submit(pending(server)) for _ in range(3)]
            started = time.monotonic()
            shed = lane.submit(pending(server))
            assert shed.result(timeout=1)[0] == 503 and time.monotonic() - started < 1, "answered at once"
            assert not any(f.done() for f in queued)
        release.set()
        blocked.result(timeout=10)
        assert [f.result(timeout=20)[0] for f in queued] == [200, 200, 200]
        assert PingResult.objects.filter(server=server).count() == 3, "each 200 is committed, the 503 is not"
    finally:
        release.set()
        lane.call(lambda: lean_push.connection.close()).result(timeout=10)


# --- the ASGI application answers pushes without a body on the lean path ------------------------


async def asgi(method: str, path: str, body: bytes = b"", headers: list | None = None) -> dict:
    from channels.testing import HttpCommunicator

    from core.asgi import application

    communicator = HttpCommunicator(application, method, path, body=body, headers=headers or [(b"host", b"127.0.0.1")])
    return await communicator.get_response(timeout=20)


async def close_lane_connection() -> None:
    from tests.live import close_worker_connections

    await close_worker_connections()
    await sync_to_async(lambda: lean_push.LANE.call(lambda: lean_push.connection.close()).result(timeout=10))()


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_push_without_a_body_is_answered_by_the_lane(alice, monkeypatch):
    server = await sync_to_async(make_push)(alice)
    threads = []
    real = lean_push.record

    def spy(batch):
        threads.append(threading.current_thread().name)
        return real(batch)

    monkeypatch.setattr(lean_push, "record", spy)
    try:
        ok = await asgi("GET", f"/api/push/{server.push_token}/?status=down&msg=late&ping=7")
        failed = await asgi("POST", f"/ping/{server.push_token}/fail")
        unknown = await asgi("GET", "/api/push/" + "z" * 43)
        bad = await asgi("GET", f"/ping/{server.push_token}?ping=fast")
        pings = await sync_to_async(lambda: list(PingResult.objects.filter(server=server).order_by("id")))()
    finally:
        await close_lane_connection()
    assert (ok["status"], json.loads(ok["body"])) == (200, {"ok": True})
    assert dict(ok["headers"])[b"x-content-type-options"] == b"nosniff"
    assert failed["status"] == 200 and unknown["status"] == 404 and json.loads(unknown["body"])["ok"] is False
    assert (bad["status"], json.loads(bad["body"])) == (400, {"ok": False, "ping": ["A valid number is required."]})
    assert [(p.status, p.error_message, p.response_time) for p in pings] == [
        (PingStatus.FAILURE, "late", 7.0),
        (PingStatus.FAILURE, "pushed down", None),
    ]
    assert threads == ["push-lane", "push-lane"]


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_push_with_a_body_a_start_or_a_foreign_host_goes_to_django(alice, monkeypatch):
    server = await sync_to_async(make_push)(alice)
    monkeypatch.setattr(lean_push, "record", lambda batch: pytest.fail("not the lean path"))
    body = b'{"status": "down", "msg": "from the body"}'
    json_headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    try:
        posted = await asgi("POST", f"/api/push/{server.push_token}/", body, json_headers)
        started = await asgi("GET", f"/api/push/{server.push_token}/start")
        foreign = await asgi("GET", f"/api/push/{server.push_token}/", headers=[(b"host", b"evil.example")])
        ping = await sync_to_async(PingResult.objects.get)(server=server)
        begun = await sync_to_async(lambda: Server.objects.get(pk=server.pk).push_started_at)()
    finally:
        await close_lane_connection()
    assert posted["status"] == 200 and ping.error_message == "from the body"
    assert started["status"] == 200 and begun is not None
    assert foreign["status"] == 400, "Django refuses a host outside ALLOWED_HOSTS, as before"
