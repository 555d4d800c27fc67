"""``api.parsers.load_yaml``: bounded by nodes after alias expansion, by depth, JSON-shaped."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import yaml
from django.test import override_settings

from api.parsers import YAMLLimitError, collector_paused, describe_yaml_error, load_yaml
from api.tests.test_configuration import ALIAS_BOMB


@pytest.mark.timeout(30)  # unbounded, the bomb takes minutes and gigabytes: fail instead
def test_the_alias_bomb_is_refused_in_little_memory():
    tracemalloc.start()
    try:
        with pytest.raises(YAMLLimitError, match="more than 100,000 nodes once its aliases are expanded"):
            load_yaml(ALIAS_BOMB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


@override_settings(CONFIG_IMPORT_MAX_NODES=9)
def test_the_bound_counts_nodes_with_aliases_expanded():
    # The mapping, key a, the list and its two items, key b, and the alias as the whole list: 9.
    assert load_yaml("a: &x [1, 2]\nb: *x") == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(YAMLLimitError, match="more than 9 nodes"):
        load_yaml("a: &x [1, 2, 3]\nb: *x")  # 11, from 7 nodes of text


@override_settings(CONFIG_IMPORT_MAX_NODES=3)
def test_a_document_written_out_in_full_may_have_more_nodes_than_the_bound():
    """Aliases may not grow a document past the bound; without them it is JSON's equal (a
    5,000-server export has 355,000 nodes and must import back)."""
    assert load_yaml("a: [1, 2]\nb: [1, 2]") == {"a": [1, 2], "b": [1, 2]}  # 9 nodes, all written
    with pytest.raises(YAMLLimitError, match="more than 3 nodes"):
        load_yaml("a: &x [1, 2]\nb: [*x, *x]")  # 1 + 1 + 3 + 1 + 7 = 13 from 7 written


def test_depth_is_bounded_before_python_recursion_is():
    assert load_yaml("[" * 60 + "]" * 60) is not None
    with pytest.raises(YAMLLimitError, match="nested more than 64 deep"):
        load_yaml("[" * 100_000 + "]" * 100_000)


def test_keys_are_strings_and_errors_are_one_line():
    assert load_yaml('"1": x\n') == {"1": "x"}
    with pytest.raises(YAMLLimitError) as caught:
        load_yaml("a:\n  1: x\n")
    assert describe_yaml_error(caught.value) == "line 2, column 3: the key 1 is not a string; quote it"
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml("a: [1\n")
    assert "\n" not in describe_yaml_error(caught.value) and describe_yaml_error(caught.value).startswith("line 2")


def test_aliases_of_a_long_string_are_bounded_by_characters():
    """Few nodes, but each error that quotes the string ('"…" is not a valid choice') would copy it."""
    big = "x" * 1_000_000
    assert len(load_yaml(f"a: &s {big}\nb: [*s, *s, *s]")["b"]) == 3  # 4 MB in all
    with pytest.raises(YAMLLimitError, match="more than 5,000,000 characters once its aliases are expanded"):
        load_yaml(f"a: &s {big}\nb: [*s, *s, *s, *s, *s]")


def test_the_collector_resumes_when_the_last_pause_ends():
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
