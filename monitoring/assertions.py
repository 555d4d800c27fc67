"""HTTP check assertions (SPEC §10): parse a list of ``{"source", "op", "value"}`` items and
evaluate it against one response. Pure: no network, no database, no Django models.

A push monitor's assertions (SPEC §19) have one source, ``value``, the number a push sent:
``evaluate_value`` judges it. ``protocol_errors`` keeps each kind of server to its own sources.

Used by the server's model validation (admin forms), the API serializer and
``services.engine.http_check.judge`` (every HTTP probe, sync or async).
"""

from __future__ import annotations

import functools
import json
import math
import re
import re._constants as sre
import re._parser as sre_parser
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import re2

MAX_ASSERTIONS = 20
MAX_SOURCE_LENGTH = 300
MAX_TEXT_VALUE = 1000
# How much of a seen value a failure message quotes (PingResult.error_message is stored).
MAX_SHOWN = 120

OPS = ("==", "!=", "<", "<=", ">", ">=", "contains", "not_contains", "matches", "exists", "not_exists")
ORDERING_OPS = frozenset({"<", "<=", ">", ">="})
PRESENCE_OPS = frozenset({"exists", "not_exists"})
PLAIN_SOURCES = ("status_code", "response_time", "body")
PREFIXED_SOURCES = ("header:", "json:", "json_len:")
# A push's number (SPEC §19): compared with a number, or required (exists) or refused (not_exists).
VALUE_SOURCE = "value"
VALUE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">=", "exists", "not_exists"})
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
# ``matches`` runs on RE2 (google-re2): linear in the text, whatever the pattern, so a pattern
# that would backtrack for seconds in Python's engine never holds up the check engine's loop.
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False
REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)

MISSING = object()  # a header or JSON path the response does not have


class AssertionSpecError(ValueError):
    """The assertion list is malformed; ``messages`` name each bad item by its index."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Assertion:
    source: str  # as written: "json:$.data.items[0].state"
    op: str
    value: Any = None
    path: tuple[str | int, ...] = ()  # the parsed steps of a json:/json_len: source

    @property
    def text(self) -> str:
        """How a failure message names it: ``json:$.status == "ok"``."""
        if self.op in PRESENCE_OPS:
            return f"{self.source} {self.op}"
        return f"{self.source} {self.op} {json.dumps(self.value)}"


@dataclass(frozen=True)
class Response:
    """What an assertion can look at: the plain facts of one HTTP response."""

    status_code: int
    elapsed_ms: float
    headers: Mapping[str, str]
    body: str


# --- Parsing.


def parse_path(text: str) -> tuple[str | int, ...]:
    """``$.data.items[0]`` → ``("data", "items", 0)``; ValueError for anything else."""
    if not text.startswith("$"):
        raise ValueError(f"path {text!r} must start with $")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = PATH_STEP.match(text, position)
        if match is None:
            raise ValueError(f"path {text!r} is not $ followed by .key and [n] steps")
        key, index = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    return tuple(steps)


def _parse_item(item: object) -> Assertion:
    if not isinstance(item, dict):
        raise ValueError('must be an object like {"source": "status_code", "op": "==", "value": 200}')
    unknown = sorted(set(item) - {"source", "op", "value"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (use source, op, value)")
    source, op = item.get("source"), item.get("op")
    if not isinstance(source, str) or not source:
        raise ValueError("source is required")
    if "\x00" in source or (isinstance(item.get("value"), str) and "\x00" in item["value"]):
        raise ValueError("NUL characters are not allowed")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ValueError(f"source is longer than {MAX_SOURCE_LENGTH} characters")
    if not isinstance(op, str) or not op:
        raise ValueError("op is required")
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}")
    path: tuple[str | int, ...] = ()
    if source.startswith("header:"):
        if not HEADER_NAME.match(source.removeprefix("header:")):
            raise ValueError(f"{source!r} needs a header name, e.g. header:Content-Type")
    elif source.startswith(("json:", "json_len:")):
        path = parse_path(source.split(":", 1)[1])
    elif source == VALUE_SOURCE:
        if op not in VALUE_OPS:
            raise ValueError(f"op {op!r} does not apply to value (use ==, !=, <, <=, >, >=, exists, not_exists)")
        if op not in PRESENCE_OPS and (not _is_number(item.get("value")) or not math.isfinite(item["value"])):
            raise ValueError("value is compared with a number")
    elif source not in PLAIN_SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if op in PRESENCE_OPS:
        if item.get("value") is not None:
            raise ValueError(f"op {op!r} takes no value")
        if source in PLAIN_SOURCES:
            raise ValueError(f"op {op!r} is for header:, json: and json_len: sources")
        return Assertion(source, op, None, path)
    if "value" not in item:
        raise ValueError(f"op {op!r} needs a value")
    value = item["value"]
    if isinstance(value, list | dict):
        raise ValueError("value must be a string, number, true, false or null")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("value must be a finite number")
    if isinstance(value, str) and len(value) > MAX_TEXT_VALUE:
        raise ValueError(f"value is longer than {MAX_TEXT_VALUE} characters")
    if op == "matches":
        if not isinstance(value, str):
            raise ValueError("op 'matches' needs a regular expression as a string")
        check_pattern(value)
    return Assertion(source, op, value, path)


@functools.lru_cache(maxsize=1024)
def check_pattern(pattern: str) -> None:
    """Refuse a ``matches`` pattern that is no Python regular expression, that nests unbounded
    repetitions (``(a+)+``: exponential time in a backtracking engine, SPEC §23), or that RE2
    cannot run (lookarounds, backreferences)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" and the like: not errors
            parsed = sre_parser.parse(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}; 400 nested groups
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
    try:
        nested = _nests_repeats(parsed.data)
    except RecursionError:
        raise ValueError(f"regular expression {pattern[:40]!r}… nests its groups too deeply") from None
    if nested:
        raise ValueError(
            f"regular expression {pattern!r} repeats a repetition (like (a+)+), which can take "
            "exponential time; repeat it once (a+)"
        )
    try:
        _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"regular expression {pattern!r} cannot run in linear time ({reason}): lookarounds, "
            "backreferences and some flags are not supported"
        ) from exc


def _nests_repeats(items: list[tuple[Any, Any]], inside: bool = False) -> bool:
    """Whether an unbounded repetition holds another one (``inside``: we are in one already)."""
    for op, av in items:
        deeper = inside
        if op in REPEATS:
            unbounded = av[1] == sre.MAXREPEAT
            if unbounded and inside:
                return True
            children, deeper = [av[2]], inside or unbounded
        elif op is sre.SUBPATTERN:
            children = [av[-1]]
        elif op is sre.BRANCH:
            children = av[1]
        elif op is sre.ATOMIC_GROUP:
            children = [av]
        else:
            continue
        if any(_nests_repeats(child.data, deeper) for child in children):
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, RE2_OPTIONS)


def parse(items: object) -> list[Assertion]:
    """Parse and validate an assertion list; AssertionSpecError naming each bad item."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise AssertionSpecError(['a list of {"source", "op", "value"} objects'])
    if len(items) > MAX_ASSERTIONS:
        raise AssertionSpecError([f"at most {MAX_ASSERTIONS} assertions (got {len(items)})"])
    parsed: list[Assertion] = []
    errors: list[str] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_parse_item(item))
        except ValueError as exc:
            errors.append(f"item {index}: {exc}")
    if errors:
        raise AssertionSpecError(errors)
    return parsed


def protocol_errors(items: object, push: bool) -> list[str]:
    """The items whose source does not fit the server: a push monitor's assertions judge only
    ``value``, an HTTP check's never (a list that does not parse is ``errors``' to report)."""
    if not isinstance(items, list):
        return []
    problems = []
    for index, item in enumerate(items):
        source = item.get("source") if isinstance(item, dict) else None
        if not isinstance(source, str):
            continue
        if push and source != VALUE_SOURCE:
            problems.append(f"item {index}: a push monitor's assertions judge its source 'value' only")
        elif not push and source == VALUE_SOURCE:
            problems.append(f"item {index}: source 'value' is a push monitor's (SPEC §19)")
    return problems


def errors(items: object) -> list[str]:
    """The messages ``parse`` would raise, or an empty list."""
    try:
        parse(items)
    except AssertionSpecError as exc:
        return exc.messages
    return []


# --- Evaluating.


class NotJSON(Exception):
    pass


def _lookup(document: Any, path: tuple[str | int, ...]) -> Any:
    node = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return MISSING
            node = node[step]
    return node


def _header(headers: Mapping[str, str], name: str) -> Any:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return MISSING


class _Document:
    """The body parsed as JSON once, on first use."""

    def __init__(self, body: str) -> None:
        self.body = body
        self._parsed: Any = MISSING

    def get(self) -> Any:
        if self._parsed is MISSING:
            try:
                self._parsed = json.loads(self.body)
            except ValueError:
                raise NotJSON from None
        return self._parsed


def _seen(assertion: Assertion, response: Response, document: _Document) -> Any:
    source = assertion.source
    if source == VALUE_SOURCE:
        return MISSING  # a push's, never an HTTP response's (refused on save: protocol_errors)
    if source == "status_code":
        return response.status_code
    if source == "response_time":
        return round(response.elapsed_ms, 2)
    if source == "body":
        return response.body
    if source.startswith("header:"):
        return _header(response.headers, source.removeprefix("header:"))
    value = _lookup(document.get(), assertion.path)
    if source.startswith("json_len:"):
        return len(value) if isinstance(value, list | dict | str) else MISSING
    return value


def _number(value: Any) -> float | None:
    """A JSON number, or a string that reads as one; None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, seen: Any, expected: Any) -> bool:
    """``==``…``>=``: numeric when both sides are numbers (one may be a numeric string), else text."""
    left: Any
    right: Any
    seen_number, expected_number = _number(seen), _number(expected)
    if seen_number is not None and expected_number is not None and (_is_number(seen) or _is_number(expected)):
        left, right = seen_number, expected_number
    else:
        left, right = _text(seen), _text(expected)
    return {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _contains(seen: Any, expected: Any) -> bool:
    if isinstance(seen, list):
        return any(_compare("==", element, expected) for element in seen)
    if isinstance(seen, dict):
        return _text(expected) in seen
    return _text(expected) in _text(seen)


def holds(assertion: Assertion, seen: Any) -> bool:
    """Whether one assertion holds for the value its source produced (MISSING when absent)."""
    op = assertion.op
    if op == "exists":
        return seen is not MISSING
    if op == "not_exists":
        return seen is MISSING
    if seen is MISSING:
        return False
    if op == "contains":
        return _contains(seen, assertion.value)
    if op == "not_contains":
        return not _contains(seen, assertion.value)
    if op == "matches":
        return _compiled(assertion.value).search(_text(seen)) is not None
    return _compare(op, seen, assertion.value)


def show(value: Any) -> str:
    """A seen value as a failure message quotes it: JSON, shortened."""
    if value is MISSING:
        return "missing"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def evaluate(assertions: list[Assertion], response: Response) -> str | None:
    """None when every assertion holds, else a message about the first that does not.

    ``assertion failed: json:$.status == "ok" (got "degraded")``; a ``json:`` source on a
    body that is not JSON fails with ``… : response is not JSON``.
    """
    document = _Document(response.body)
    for assertion in assertions:
        try:
            seen = _seen(assertion, response, document)
        except NotJSON:
            return f"assertion failed: {assertion.text}: response is not JSON"
        if not holds(assertion, seen):
            return f"assertion failed: {assertion.text} (got {show(seen)})"
    return None


def evaluate_value(assertions: list[Assertion], value: float | None) -> str | None:
    """None when every assertion holds for a push's ``value`` (None: it sent none), else a
    message about the first that does not: ``assertion failed: value > 90 (got 95.5)``."""
    seen: Any = MISSING if value is None else value
    for assertion in assertions:
        if assertion.source == VALUE_SOURCE and not holds(assertion, seen):
            return f"assertion failed: {assertion.text} (got {show(seen)})"
    return None
