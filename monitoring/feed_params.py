"""One parser for what a live-feed client asks for: the WebSocket's frames and the SSE query.

Both feeds take the same things — server ids, a name query, statuses, a ``since`` time and a
``limit`` — with the same limits; only the wire differs (JSON values on the WebSocket, text
on the SSE query string, where ``server_id=1,2`` and ``limit=10`` are strings). ``parse()``
checks them all at once and raises ``FeedParamsError`` with every problem, keyed by the
canonical names below; each feed names them its own way (SSE: ``server_id``, ``status``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api.filtersets import as_utc
from monitoring.choices import Status
from monitoring.services.live.feeds import FeedFilter

MAX_IDS = 1000
MAX_ID = 2**63 - 1
MAX_QUERY = 200
MAX_LIMIT = 500

#: The canonical names ``parse()`` reads and reports errors under.
SERVER_IDS, QUERY, STATUSES, SINCE, LIMIT = "server_ids", "query", "statuses", "since", "limit"
LOCATION = "location"
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")


class FeedParamsError(Exception):
    """Every problem with a feed's parameters, ``{canonical name: [messages]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors

    def first(self) -> str:
        return next(iter(self.errors.values()))[0]


def whole_number(value: Any) -> int | None:
    """An int (not a bool) or a string of digits as an int; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_since(value: str) -> datetime | None:
    """An ISO 8601 time in UTC (naive means UTC), None if unreadable or out of range (``filters.as_utc``).

    A ``+`` decoded to a space from a raw URL is put back.
    """
    value = value.strip()
    for candidate in (value, value.replace(" ", "+")):
        try:
            parsed = parse_datetime(candidate)
        except ValueError:
            parsed = None
        if parsed is not None:
            try:
                return as_utc(parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC))
            except ValidationError:
                return None
    return None


def parse(raw: Mapping[str, Any], default_limit: int) -> tuple[FeedFilter, int]:
    """The feed filter and the limit that ``raw`` asks for (absent or None: no filter, the default).

    ``server_ids`` and ``statuses`` are lists; ``query``, ``since`` and ``location`` (a slug:
    whether the caller sees it is the feed's to check) text; ``limit`` a whole number.
    """
    errors: dict[str, list[str]] = {}

    def text(name: str, value: Any) -> bool:
        if not isinstance(value, str) or "\x00" in value:
            errors[name] = ["Give text without null characters."]
            return False
        return True

    ids: tuple[int, ...] | None = None
    if raw.get(SERVER_IDS) is not None:
        items = raw[SERVER_IDS]
        numbers = [whole_number(i) for i in items] if isinstance(items, list) else None
        if numbers is None or len(numbers) > MAX_IDS:
            errors[SERVER_IDS] = [f"Give a list of at most {MAX_IDS} server ids."]
        elif not all(n is not None and 0 < n <= MAX_ID for n in numbers):
            errors[SERVER_IDS] = ["Server ids are positive whole numbers, e.g. 1,2."]
        else:
            ids = tuple(dict.fromkeys(numbers))  # type: ignore[arg-type]

    query = raw.get(QUERY) or ""
    if query and text(QUERY, query):
        if len(query) > MAX_QUERY:
            errors[QUERY] = [f"query must be text of at most {MAX_QUERY} characters."]
        query = query.strip()

    statuses: tuple[str, ...] = ()
    if raw.get(STATUSES):
        items = raw[STATUSES]
        if all(text(STATUSES, s) for s in items):
            unknown = [s for s in items if s not in Status.values]
            if unknown:
                errors[STATUSES] = [f"Unknown status {unknown[0]!r}: use {', '.join(Status.values)}."]
            statuses = tuple(dict.fromkeys(items))

    since = None
    if raw.get(SINCE) and text(SINCE, raw[SINCE]):
        since = parse_since(raw[SINCE])
        if since is None:
            errors[SINCE] = ["Give an ISO 8601 date and time, e.g. 2025-01-31T12:00:00Z."]

    limit = default_limit
    if raw.get(LIMIT) is not None:
        number = whole_number(raw[LIMIT])
        if number is None or not 0 <= number <= MAX_LIMIT:
            errors[LIMIT] = [f"limit must be a whole number from 0 to {MAX_LIMIT}."]
        else:
            limit = number

    location = None
    if raw.get(LOCATION) is not None:
        location = raw[LOCATION].strip() if isinstance(raw[LOCATION], str) else ""
        if not SLUG.fullmatch(location):
            errors[LOCATION] = ["location is a location's slug (letters, digits, - and _), e.g. frankfurt."]

    if errors:
        raise FeedParamsError(errors)
    return FeedFilter(server_ids=ids, query=query, statuses=statuses, since=since, location=location), limit
