"""The one parser behind both live feeds' filters (issue 14 B.5): same rules, same limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring import consumers, feed_params, sse
from monitoring.feed_params import FeedParamsError, parse


def test_json_and_query_string_values_mean_the_same():
    from_json = parse({"server_ids": [3, 1, 3], "limit": 5, "query": " prod "}, 10)
    from_text = parse({"server_ids": ["3", "1", "3"], "limit": "5", "query": "prod"}, 10)
    assert from_json == from_text
    feed, limit = from_json
    assert feed.server_ids == (3, 1) and feed.query == "prod" and limit == 5


def test_nothing_asked_is_no_filter_and_the_callers_default_limit():
    feed, limit = parse({}, 50)
    assert feed.server_ids is None and feed.query == "" and feed.statuses == () and limit == 50


def test_since_is_read_in_utc():
    feed, _ = parse({"since": "2026-01-01T12:00:00+02:00"}, 1)
    assert feed.since == datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, name",
    [
        ({"server_ids": list(range(1, feed_params.MAX_IDS + 2))}, "server_ids"),
        ({"server_ids": [True]}, "server_ids"),
        ({"server_ids": "1,2"}, "server_ids"),
        ({"server_ids": [2**63]}, "server_ids"),
        ({"query": "x" * (feed_params.MAX_QUERY + 1)}, "query"),
        ({"query": 42}, "query"),
        ({"statuses": ["sideways"]}, "statuses"),
        ({"statuses": ["up\x00"]}, "statuses"),
        ({"since": "yesterday"}, "since"),
        ({"limit": feed_params.MAX_LIMIT + 1}, "limit"),
        ({"limit": "-1"}, "limit"),
    ],
)
def test_every_problem_is_named(raw, name):
    with pytest.raises(FeedParamsError) as caught:
        parse(raw, 10)
    assert list(caught.value.errors) == [name] and caught.value.first()


def test_both_feeds_use_it_and_keep_no_limits_of_their_own():
    for module in (consumers, sse):
        assert module.feed_params is feed_params
        assert not [name for name in vars(module) if name.startswith("MAX_")], module.__name__
