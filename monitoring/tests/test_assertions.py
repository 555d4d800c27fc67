"""The assertion module alone (SPEC §10): parsing, every source and op, and the failure
messages, against plain responses; no network, no database."""

from __future__ import annotations

import json

import pytest

from monitoring.assertions import (
    MAX_ASSERTIONS,
    AssertionSpecError,
    Response,
    errors,
    evaluate,
    parse,
    parse_path,
)


def response(body: object = "", *, status: int = 200, elapsed: float = 42.0, **headers: str) -> Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return Response(status, elapsed, {k.replace("_", "-"): v for k, v in headers.items()}, text)


def check(items: list[dict], resp: Response) -> str | None:
    return evaluate(parse(items), resp)


HEALTH = {"status": "ok", "version": "2.4.1", "checks": {"db": {"latency_ms": 12}}, "items": [{"state": "up"}, 7]}


# --- Parsing.


def test_a_path_is_dollar_then_key_and_index_steps():
    assert parse_path("$") == ()
    assert parse_path("$.data.items[0].state") == ("data", "items", 0, "state")
    assert parse_path("$[2][10]") == (2, 10)
    for bad in ("data.items", "$.", "$..a", "$[x]", "$.a[", "$a"):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_a_bad_item_is_named_by_its_index_counted_from_zero():
    items = [
        {"source": "status_code", "op": "==", "value": 200},
        {"source": "body", "op": "contains", "value": "ok"},
        {"source": "body", "op": "like", "value": "ok"},
    ]
    assert errors(items) == ["item 2: unknown op 'like'"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"source": "cookie:x", "op": "==", "value": 1}, "item 0: unknown source 'cookie:x'"),
        ({"source": "json:status", "op": "==", "value": 1}, "item 0: path 'status' must start with $"),
        ({"source": "json:$.a..b", "op": "==", "value": 1}, "is not $ followed by .key and [n] steps"),
        ({"source": "header:", "op": "exists"}, "needs a header name"),
        ({"source": "body", "op": "matches", "value": "(unclosed"}, "item 0: bad regular expression '(unclosed'"),
        ({"source": "body", "op": "matches", "value": 5}, "needs a regular expression as a string"),
        ({"source": "body", "op": "=="}, "item 0: op '==' needs a value"),
        ({"source": "header:X", "op": "exists", "value": "y"}, "item 0: op 'exists' takes no value"),
        ({"source": "status_code", "op": "exists"}, "is for header:, json: and json_len: sources"),
        ({"source": "body", "op": "==", "value": [1]}, "value must be a string, number"),
        ({"source": "body", "op": "==", "value": "a", "extra": 1}, "item 0: unknown key 'extra'"),
        ({"op": "==", "value": 1}, "item 0: source is required"),
        ("status_code == 200", "item 0: must be an object"),
        ({"source": "body", "op": "contains", "value": "a\x00b"}, "NUL characters are not allowed"),
    ],
)
def test_each_kind_of_bad_item_says_what_is_wrong(item, message):
    problems = errors([item])
    assert len(problems) == 1 and message in problems[0], problems


def test_not_a_list_and_too_many_items_are_refused():
    assert errors({"source": "body"}) == ['a list of {"source", "op", "value"} objects']
    many = [{"source": "status_code", "op": "==", "value": 200}] * (MAX_ASSERTIONS + 1)
    assert errors(many) == [f"at most {MAX_ASSERTIONS} assertions (got {MAX_ASSERTIONS + 1})"]
    assert errors(many[:MAX_ASSERTIONS]) == []


def test_every_bad_item_is_reported_at_once():
    with pytest.raises(AssertionSpecError) as caught:
        parse([{"source": "x", "op": "=="}, {"source": "body", "op": "==", "value": 1}, {"source": "body"}])
    assert [m.split(":")[0] for m in caught.value.messages] == ["item 0", "item 2"]


# --- Every source.


def test_status_code_compares_as_a_number():
    assert check([{"source": "status_code", "op": "==", "value": 200}], response()) is None
    assert check([{"source": "status_code", "op": "<", "value": 300}], response(status=204)) is None
    assert (
        check([{"source": "status_code", "op": "==", "value": 200}], response(status=503))
        == "assertion failed: status_code == 200 (got 503)"
    )


def test_response_time_is_in_milliseconds():
    assert check([{"source": "response_time", "op": "<", "value": 500}], response(elapsed=120.5)) is None
    assert (
        check([{"source": "response_time", "op": "<", "value": 500}], response(elapsed=812.345))
        == "assertion failed: response_time < 500 (got 812.35)"
    )


def test_body_contains_matches_and_numeric_text():
    resp = response("build 1234: all good")
    assert check([{"source": "body", "op": "contains", "value": "all good"}], resp) is None
    assert check([{"source": "body", "op": "not_contains", "value": "error"}], resp) is None
    assert check([{"source": "body", "op": "matches", "value": r"build \d+"}], resp) is None
    assert check([{"source": "body", "op": "matches", "value": r"^all"}], resp) == (
        'assertion failed: body matches "^all" (got "build 1234: all good")'
    )
    # A text body that reads as a number compares numerically with a number.
    assert check([{"source": "body", "op": ">", "value": 9}], response("10")) is None
    assert check([{"source": "body", "op": ">", "value": "9"}], response("10")) is not None  # text: "10" < "9"


def test_header_names_are_case_insensitive_and_values_numeric_when_compared_with_numbers():
    resp = response(Content_Type="application/json; charset=utf-8", X_Queue_Depth="17")
    assert check([{"source": "header:content-type", "op": "contains", "value": "json"}], resp) is None
    assert check([{"source": "header:X-QUEUE-DEPTH", "op": "<=", "value": 100}], resp) is None
    assert check([{"source": "header:X-Missing", "op": "not_exists"}], resp) is None
    assert check([{"source": "header:X-Missing", "op": "exists"}], resp) == (
        "assertion failed: header:X-Missing exists (got missing)"
    )
    assert check([{"source": "header:X-Missing", "op": "==", "value": "1"}], resp) == (
        'assertion failed: header:X-Missing == "1" (got missing)'
    )


def test_json_paths_reach_nested_keys_and_list_items():
    resp = response(HEALTH)
    assert check([{"source": "json:$.status", "op": "==", "value": "ok"}], resp) is None
    assert check([{"source": "json:$.checks.db.latency_ms", "op": "<", "value": 50}], resp) is None
    assert check([{"source": "json:$.items[0].state", "op": "==", "value": "up"}], resp) is None
    assert check([{"source": "json:$.items[1]", "op": "==", "value": 7}], resp) is None
    assert check([{"source": "json:$.items[5]", "op": "not_exists"}], resp) is None
    assert check([{"source": "json:$.version", "op": "matches", "value": r"^2\."}], resp) is None
    assert check([{"source": "json:$.items", "op": "contains", "value": 7}], resp) is None
    assert check([{"source": "json:$.checks", "op": "contains", "value": "db"}], resp) is None


def test_a_degraded_health_endpoint_fails_with_a_message_saying_so():
    resp = response({"status": "degraded"})
    assert check([{"source": "json:$.status", "op": "==", "value": "ok"}], resp) == (
        'assertion failed: json:$.status == "ok" (got "degraded")'
    )


def test_json_values_of_other_types_compare_as_json():
    resp = response({"ok": True, "error": None, "count": 3, "ratio": "0.5"})
    assert check([{"source": "json:$.ok", "op": "==", "value": True}], resp) is None
    assert check([{"source": "json:$.error", "op": "==", "value": None}], resp) is None
    assert check([{"source": "json:$.count", "op": "==", "value": 3.0}], resp) is None
    assert check([{"source": "json:$.ratio", "op": "<", "value": 1}], resp) is None
    assert check([{"source": "json:$.ok", "op": "==", "value": False}], resp) == (
        "assertion failed: json:$.ok == false (got true)"
    )


def test_json_len_counts_lists_objects_and_strings():
    resp = response({"items": [1, 2, 3], "meta": {"a": 1}, "name": "abcd", "n": 5})
    assert check([{"source": "json_len:$.items", "op": "==", "value": 3}], resp) is None
    assert check([{"source": "json_len:$.meta", "op": ">=", "value": 1}], resp) is None
    assert check([{"source": "json_len:$.name", "op": "==", "value": 4}], resp) is None
    assert check([{"source": "json_len:$.items", "op": ">", "value": 5}], resp) == (
        "assertion failed: json_len:$.items > 5 (got 3)"
    )
    # A number has no length: the assertion sees nothing.
    assert check([{"source": "json_len:$.n", "op": "exists"}], resp) == (
        "assertion failed: json_len:$.n exists (got missing)"
    )


def test_a_body_that_is_not_json_fails_a_json_assertion():
    message = check([{"source": "json:$.status", "op": "==", "value": "ok"}], response("<html>oops</html>"))
    assert message == 'assertion failed: json:$.status == "ok": response is not JSON'
    assert "response is not JSON" in check([{"source": "json_len:$", "op": ">", "value": 0}], response(""))


def test_all_must_hold_and_the_first_that_does_not_is_reported():
    items = [
        {"source": "status_code", "op": "==", "value": 200},
        {"source": "json:$.status", "op": "!=", "value": "ok"},
        {"source": "json:$.version", "op": "==", "value": "9"},
    ]
    assert check(items, response(HEALTH)) == 'assertion failed: json:$.status != "ok" (got "ok")'
    assert check([], response(HEALTH)) is None


def test_long_seen_values_are_shortened_in_the_message():
    message = check([{"source": "body", "op": "contains", "value": "needle"}], response("x" * 5000))
    assert message is not None and len(message) < 200 and message.endswith("…)")


# --- regular expressions that backtrack (issue 14 D.19, SPEC §23) ---------------------------

CATASTROPHIC = r"^(a+)+$"


@pytest.mark.parametrize("pattern", [CATASTROPHIC, r"(a*)*b", r"^(\w+\s?)*$"])
def test_a_pattern_that_nests_repetitions_is_refused_at_save(pattern):
    [problem] = errors([{"source": "body", "op": "matches", "value": pattern}])
    assert problem.startswith("item 0:") and "exponential" in problem


def test_a_pattern_that_needs_backtracking_to_run_is_refused_at_save():
    [problem] = errors([{"source": "body", "op": "matches", "value": r"(?<!no )ok"}])
    assert "lookaround" in problem


def test_a_catastrophic_pattern_stored_before_the_rule_runs_in_linear_time():
    """``^(a+)+$`` against 27 × "a" + "!" took Python's engine about 10 s, on the engine's loop."""
    import time

    from monitoring.assertions import Assertion, holds

    started = time.monotonic()
    assert not holds(Assertion("body", "matches", CATASTROPHIC), "a" * 27 + "!")
    assert holds(Assertion("body", "matches", CATASTROPHIC), "a" * 27)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("pattern", ["a{4294967296}", "(" * 400 + ")" * 400])
def test_a_pattern_that_breaks_the_parser_is_a_field_error_not_a_crash(pattern):
    [problem] = errors([{"source": "body", "op": "matches", "value": pattern}])
    assert problem.startswith("item 0:")
