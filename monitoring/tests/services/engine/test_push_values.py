"""Pushes that carry numbers, judged by ``value`` assertions and charted; and batches of pushes
at ``POST /api/push/`` (SPEC §19)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from monitoring.assertions import evaluate_value, parse
from monitoring.choices import PingStatus, Protocol, Status
from monitoring.models import HourlyRollup, PingResult, Server
from monitoring.services.engine import checks
from monitoring.services.engine.push import check_value, push_outcome
from monitoring.services.history.charts import history
from monitoring.services.history.rollups import recompute
from monitoring.tests.factories import make_ping

pytestmark = pytest.mark.django_db

AT_MOST_90 = [{"source": "value", "op": "<=", "value": 90}]


def make_push(owner, **fields) -> Server:
    values = {"name": "disk", "protocol": Protocol.PUSH, "check_interval": 60, "grace_seconds": 10}
    return Server.objects.create(owner=owner, **(values | fields))


def push_url(server: Server) -> str:
    return f"/api/push/{server.push_token}/"


# --- one push with a value -----------------------------------------------------------------


def test_a_pushed_value_is_kept_with_its_result_and_shown_in_the_api(alice, alice_client, anon_client):
    server = make_push(alice)
    assert anon_client.post(push_url(server), {"value": 42.5}, format="json").json() == {"ok": True}
    assert anon_client.get(push_url(server) + "?value=7").status_code == 200
    assert anon_client.get(push_url(server)).status_code == 200
    assert list(PingResult.objects.filter(server=server).order_by("id").values_list("value", flat=True)) == [
        42.5,
        7.0,
        None,
    ]
    results = alice_client.get(f"/api/ping-results/?server={server.pk}").json()["results"]
    assert [r["value"] for r in results] == [None, 7.0, 42.5]


@pytest.mark.parametrize(
    "raw", ["nan", "NaN", "inf", "-Infinity", "1e309", "1e16", "-2e15", "lots", True, [1], {"v": 1}]
)
def test_a_value_that_is_not_a_finite_number_in_range_is_400_and_stores_nothing(alice, anon_client, raw):
    server = make_push(alice)
    r = anon_client.post(push_url(server), {"value": raw}, format="json")
    assert r.status_code == 400 and r.json()["ok"] is False and "value" in r.json(), r.json()
    assert not PingResult.objects.filter(server=server).exists()


def test_a_nan_in_the_query_string_is_400_too(alice, anon_client):
    server = make_push(alice)
    assert anon_client.get(push_url(server) + "?value=nan").status_code == 400
    assert anon_client.get(push_url(server) + "?value=1e15").status_code == 200


def test_check_value_reads_numbers_and_numeric_text():
    assert (check_value(3), check_value("2.5"), check_value(None), check_value("")) == (3.0, 2.5, None, None)
    with pytest.raises(ValueError, match="finite"):
        check_value(float("inf"))


# --- value assertions ----------------------------------------------------------------------


def test_a_value_breaking_an_assertion_makes_the_push_a_failure_and_a_down_after_retries(alice, anon_client):
    server = make_push(alice, assertions=AT_MOST_90, retries=2)
    anon_client.get(push_url(server) + "?value=80")
    assert Server.objects.get(pk=server.pk).status == Status.UP
    anon_client.get(push_url(server) + "?value=95.5")
    ping = PingResult.objects.filter(server=server).order_by("-id").first()
    assert (ping.status, ping.error_message, ping.value) == (
        PingStatus.FAILURE,
        "assertion failed: value <= 90 (got 95.5)",
        95.5,
    )
    assert Server.objects.get(pk=server.pk).status == Status.UP, "one failure of two retries"
    anon_client.get(push_url(server) + "?value=97")
    assert Server.objects.get(pk=server.pk).status == Status.DOWN
    anon_client.get(push_url(server) + "?value=12")
    assert Server.objects.get(pk=server.pk).status == Status.UP


def test_a_push_without_a_value_fails_a_comparison_and_exists_requires_one():
    rules = parse([{"source": "value", "op": "exists"}])
    assert evaluate_value(rules, None) == "assertion failed: value exists (got missing)"
    assert evaluate_value(rules, 0.0) is None
    outcome = push_outcome(up=True, value=None, rules=AT_MOST_90)
    assert outcome.status == PingStatus.FAILURE and outcome.error_message.endswith("(got missing)")


def test_a_down_push_keeps_its_own_message_and_its_value():
    outcome = push_outcome(up=False, msg="disk full", value=99.0, rules=AT_MOST_90)
    assert (outcome.status, outcome.error_message, outcome.value) == (PingStatus.FAILURE, "disk full", 99.0)


def test_a_push_server_takes_value_assertions_through_the_api(alice_client):
    body = {"name": "queue", "protocol": "push", "assertions": [{"source": "value", "op": ">", "value": -1}]}
    r = alice_client.post("/api/servers/", body, format="json")
    assert r.status_code == 201, r.json()
    assert Server.objects.get(pk=r.json()["id"]).assertions == body["assertions"]


@pytest.mark.parametrize(
    ("protocol", "items", "message"),
    [
        ("push", [{"source": "status_code", "op": "==", "value": 200}], "item 0: a push monitor's assertions"),
        ("https", [{"source": "value", "op": "<", "value": 1}], "item 0: source 'value' is a push monitor's"),
        ("push", [{"source": "value", "op": "<", "value": "high"}], "item 0: value is compared with a number"),
        ("push", [{"source": "value", "op": "matches", "value": "9+"}], "item 0: op 'matches' does not apply"),
    ],
)
def test_assertions_that_do_not_fit_the_server_are_400_naming_the_item(alice_client, protocol, items, message):
    body = {"name": "x", "protocol": protocol, "host": "example.com", "assertions": items}
    r = alice_client.post("/api/servers/", body, format="json")
    assert r.status_code == 400 and r.json()["assertions"][0].startswith(message), r.json()


# --- history -------------------------------------------------------------------------------


def test_history_buckets_and_rollups_carry_the_values_min_avg_and_max(alice):
    server = make_push(alice)
    now = datetime(2026, 12, 1, 12, 2, tzinfo=UTC)
    make_ping(server, value=10.0, check_timestamp=datetime(2026, 12, 1, 10, 56, tzinfo=UTC))
    make_ping(server, value=30.0, check_timestamp=datetime(2026, 12, 1, 10, 58, tzinfo=UTC))
    make_ping(server, PingStatus.FAILURE, value=95.0, check_timestamp=datetime(2026, 12, 1, 10, 59, tzinfo=UTC))
    make_ping(server, check_timestamp=datetime(2026, 12, 1, 11, 1, tzinfo=UTC))  # no value
    make_ping(server, value=5.0, check_timestamp=datetime(2026, 12, 1, 11, 3, tzinfo=UTC))
    day = history(server, "24h", now=now)["buckets"]
    ten = next(b for b in day if b["start"] == datetime(2026, 12, 1, 10, 55, tzinfo=UTC))
    assert (ten["value_min"], ten["value_avg"], ten["value_max"]) == (10.0, 45.0, 95.0)
    eleven = next(b for b in day if b["start"] == datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    assert (eleven["value_min"], eleven["value_avg"], eleven["value_max"]) == (5.0, 5.0, 5.0)
    assert day[-1]["value_avg"] is None

    recompute([datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 11, tzinfo=UTC)])
    rollup = HourlyRollup.objects.get(server=server, hour=datetime(2026, 12, 1, 10, tzinfo=UTC))
    assert (rollup.valued, rollup.value_min, rollup.value_avg, rollup.value_max) == (3, 10.0, 45.0, 95.0)
    # Hourly buckets read the (final) rollups: the 10:00 hour from its rollup, weighted by its count.
    HourlyRollup.objects.update(updated_at=now + timedelta(hours=1))
    week = history(server, "7d", now=now + timedelta(hours=1))["buckets"]
    hour = next(b for b in week if b["start"] == datetime(2026, 12, 1, 10, tzinfo=UTC))
    assert (hour["value_min"], hour["value_avg"], hour["value_max"]) == (10.0, 45.0, 95.0)


def test_the_history_endpoint_shows_the_values(alice, alice_client):
    server = make_push(alice)
    make_ping(server, value=3.0)
    make_ping(server, value=5.0)
    buckets = alice_client.get(f"/api/servers/{server.pk}/history/?window=24h").json()["buckets"]
    assert (buckets[-1]["value_min"], buckets[-1]["value_avg"], buckets[-1]["value_max"]) == (3.0, 4.0, 5.0)


# --- batches -------------------------------------------------------------------------------


def post_batch(client, items, **kwargs):
    return client.post("/api/push/", json.dumps(items), content_type="application/json", **kwargs)


def test_a_batch_answers_one_result_per_item_in_order_and_one_bad_item_stops_nothing(alice, anon_client):
    disk, queue, paused = make_push(alice), make_push(alice, name="queue"), make_push(alice, name="paused")
    checks.pause(paused)
    items = [
        {"token": disk.push_token, "value": 41},
        {"token": "x" * 43},
        {"token": queue.push_token, "status": "down", "msg": "stuck", "ping": 12},
        {"token": disk.push_token, "value": "nan"},
        "up",
        {"status": "up"},
        {"token": paused.push_token},
        {"token": disk.push_token, "value": 43, "status": "up"},
        {"token": 12},
    ]
    r = post_batch(anon_client, items)
    assert r.status_code == 200
    answers = r.json()
    assert len(answers) == len(items)
    assert answers[0] == {"ok": True} and answers[2] == {"ok": True} and answers[7] == {"ok": True}
    assert answers[1] == {"ok": False, "status": 404, "detail": "No push monitor has this token."}
    assert answers[3]["ok"] is False and answers[3]["status"] == 400 and "value" in answers[3]
    assert answers[4]["status"] == 400 and answers[5] == {
        "ok": False,
        "status": 400,
        "token": ["This field is required."],
    }
    assert answers[6]["status"] == 409 and answers[8]["status"] == 404
    assert list(PingResult.objects.filter(server=disk).order_by("id").values_list("value", flat=True)) == [41.0, 43.0]
    down = PingResult.objects.get(server=queue)
    assert (down.status, down.error_message, down.response_time) == (PingStatus.FAILURE, "stuck", 12.0)
    assert Server.objects.get(pk=queue.pk).status == Status.DOWN
    assert not PingResult.objects.filter(server=paused).exists()


def test_a_batch_judges_value_assertions_and_retries_in_order(alice, anon_client):
    server = make_push(alice, assertions=AT_MOST_90, retries=2)
    token = server.push_token
    r = post_batch(anon_client, [{"token": token, "value": 95}, {"token": token, "value": 96}])
    assert r.json() == [{"ok": True}, {"ok": True}]
    assert Server.objects.get(pk=server.pk).status == Status.DOWN
    assert PingResult.objects.filter(server=server, status=PingStatus.FAILURE).count() == 2


@override_settings(PUSH_THROTTLE_RATE="3/minute")
def test_the_per_token_throttle_counts_each_item_of_a_batch(alice, anon_client):
    one, two = make_push(alice), make_push(alice, name="two")
    assert anon_client.get(push_url(one)).status_code == 200  # one of three used
    items = [{"token": one.push_token, "value": n} for n in range(4)] + [{"token": two.push_token}]
    answers = post_batch(anon_client, items).json()
    assert [a["ok"] for a in answers] == [True, True, False, False, True]
    assert answers[2]["status"] == 429 and "retry after" in answers[2]["detail"]
    values = PingResult.objects.filter(server=one).exclude(value=None).order_by("id").values_list("value", flat=True)
    assert list(values) == [0, 1]
    assert anon_client.get(push_url(one)).status_code == 429, "the single push shares the budget"


def test_a_batch_of_more_than_1000_items_is_400_and_stores_nothing(alice, anon_client):
    server = make_push(alice)
    r = post_batch(anon_client, [{"token": server.push_token}] * 1001)
    assert r.status_code == 400 and r.json()["ok"] is False and "1000" in r.json()["detail"]
    assert not PingResult.objects.exists()


@pytest.mark.parametrize("body", [{"token": "x"}, "up", 3])
def test_a_batch_that_is_not_a_list_is_400(db, anon_client, body):
    r = post_batch(anon_client, body)
    assert r.status_code == 400 and r.json()["ok"] is False


def test_a_form_body_is_not_a_batch(db, anon_client):
    r = anon_client.post("/api/push/", {"token": "x"})
    assert r.status_code == 400


@override_settings(PUSH_THROTTLE_RATE="5000/minute")
def test_a_full_batch_is_recorded_in_a_few_queries(alice, anon_client):
    servers = [make_push(alice, name=f"job {n}") for n in range(10)]
    items = [{"token": servers[n % 10].push_token, "value": n} for n in range(1000)]
    with CaptureQueriesContext(connection) as queries:
        r = post_batch(anon_client, items)
    assert r.status_code == 200 and all(a == {"ok": True} for a in r.json())
    assert PingResult.objects.count() == 1000
    assert len(queries) < 100, f"{len(queries)} queries for 1,000 pushes of 10 monitors"
