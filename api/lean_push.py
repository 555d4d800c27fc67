"""The lean push path (issue 20): a push with no body answered without Django's request cycle or DRF,
written by a group commit.

A cron job's push is ``GET`` or ``POST`` of ``/api/push/<token>[/]``, ``/api/push/<token>/fail`` or
``/<exit status>``, or the same under ``/ping/``, with its parameters in the query string and no
body. ``LeanPushes`` (in front of Django in ``core.asgi``) answers those itself; anything else (a
body, ``/start``, ``/log``, a host Django would refuse, another method) goes on to Django and the
DRF ``PushView`` as before, with the same answers.

Each process has one ``PushLane``: a thread with its own database connection that takes every
push waiting when it is free (up to MAX_BATCH) and answers them together:

1. a push that waited more than PUSH_MAX_WAIT_SECONDS is 503, unstored (its client is about to give
   up and retry: storing it too would count the run twice);
2. one query finds the tokens' monitors (an unknown token is 404), one upsert counts each
   monitor's pushes against PUSH_THROTTLE_RATE (``authentication.throttle.hit_many``: beyond it 429
   with Retry-After);
3. an exit status outside 0–255 or bad parameters are 400, a paused monitor 409, as the DRF view
   answers them;
4. the rest are recorded by one ``record()`` (one transaction: the PingResults, the states, the
   deadlines, alerts, then one publish to the live feeds), in the order they arrived, each at its
   arrival time, exactly as recording them one by one would.

A push is answered 200 only once the transaction holding it has committed: a 200 is durable, as
before. Should the batch fail, each push is recorded alone, so one bad push never sinks the others
(a push that cannot be stored then is 503). More than PUSH_QUEUE_MAX pushes waiting for the lane:
503 with Retry-After at once, nothing stored.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import connection
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from authentication.throttle import hit_many, parse_rate
from core.responses import send_json
from core.shared_threads import RETRY_AFTER
from monitoring.choices import Protocol
from monitoring.models import Server
from monitoring.services.engine import push
from monitoring.services.engine.recording import CheckResult, record

log = logging.getLogger(__name__)

#: Pushes answered by one transaction at most.
MAX_BATCH = 500
MAX_PING = 86_400_000
TOKEN = r"(?P<token>[A-Za-z0-9_-]{1,64})"
SIGNAL = r"(?:/(?P<signal>fail|-?[0-9]{1,12}))?"
#: The push URLs this path answers (the plain push, /fail and /<exit status>, also under /ping/).
PATHS = re.compile(rf"/(?:api/push|ping)/{TOKEN}(?:/?|{SIGNAL}/?)")
#: Headers Django's middleware adds to the DRF view's answers; the same here.
HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"vary", b"Accept"),
]

Answer = tuple[int, dict[str, Any], int | None]  # status, body, Retry-After (seconds) or None
UNKNOWN: Answer = (404, {"ok": False, "detail": "No push monitor has this token."}, None)
BUSY: Answer = (503, {"ok": False, "detail": "Too many pushes right now; retry shortly."}, RETRY_AFTER)
FAILED: Answer = (503, {"ok": False, "detail": "The push could not be stored; retry shortly."}, RETRY_AFTER)
PAUSED: Answer = (409, {"ok": False, "detail": "This monitor is paused; the push was not stored."}, None)
OK: Answer = (200, {"ok": True}, None)


def clean(params: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A push's query-string parameters checked as ``api.serializers.servers.PushSerializer`` checks
    them (the same values, the same error messages): (data, errors by field)."""
    errors: dict[str, list[str]] = {}
    status = params.get("status", "up")
    if status not in ("up", "down"):
        errors["status"] = [f'"{status}" is not a valid choice.']
    msg = params.get("msg", "").strip()
    said = []
    if len(msg) > push.MAX_MESSAGE:
        said.append(f"Ensure this field has no more than {push.MAX_MESSAGE} characters.")
    if "\x00" in msg:
        said.append("Null characters are not allowed.")
    if said:
        errors["msg"] = said
    ping = None
    if "ping" in params:
        ping, problem = _ping(params["ping"])
        if problem:
            errors["ping"] = [problem]
    value = None
    try:
        value = push.check_value(params.get("value"))
    except ValueError as exc:
        errors["value"] = [str(exc)]
    return {"status": status, "msg": msg, "ping": ping, "value": value}, errors


def _ping(text: str) -> tuple[float | None, str]:
    if len(text) > 1000:
        return None, "String value too large."
    try:
        ping = float(text)
    except ValueError:
        return None, "A valid number is required."
    if not math.isfinite(ping):
        return None, "A valid number is required."
    if ping < 0:
        return None, "Ensure this value is greater than or equal to 0."
    if ping > MAX_PING:
        return None, f"Ensure this value is less than or equal to {MAX_PING}."
    return ping, ""


@dataclass(eq=False)
class Pending:
    """One push waiting for the lane; ``future`` gets its ``Answer``."""

    token: str
    signal: str | None
    params: dict[str, str]
    arrived: float  # time.monotonic()
    at: datetime  # when it arrived: its PingResult's check_timestamp
    future: Future[Answer] = field(default_factory=Future)


class PushLane:
    """The group commit of one process's lean pushes (see the module docstring)."""

    def __init__(self, name: str = "push-lane") -> None:
        self.name = name
        self._queue: queue.SimpleQueue[Pending | Callable[[], object]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, item: Pending) -> Future[Answer]:
        """Queue a push; its future gets the answer (BUSY at once past PUSH_QUEUE_MAX waiting)."""
        if self._queue.qsize() >= settings.PUSH_QUEUE_MAX:
            item.future.set_result(BUSY)
            return item.future
        self._start()
        self._queue.put(item)
        return item.future

    def call(self, work: Callable[[], object]) -> Future[object]:
        """Run ``work`` on the lane's thread between batches (tests close its connection so)."""
        done: Future[object] = Future()

        def run() -> None:
            try:
                done.set_result(work())
            except BaseException as exc:  # noqa: BLE001 — handed to the caller
                done.set_exception(exc)

        self._start()
        self._queue.put(run)
        return done

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < MAX_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch: list[Pending] = []
            for item in items:
                if isinstance(item, Pending):
                    batch.append(item)
                    continue
                self._answer(batch)
                batch = []
                item()
            self._answer(batch)

    def _answer(self, batch: list[Pending]) -> None:
        if not batch:
            return
        try:
            answers = answer(batch)
        except Exception:
            log.exception("push_batch_failed pushes=%s", len(batch))
            drop_if_broken()
            answers = [FAILED] * len(batch)
        for item, given in zip(batch, answers, strict=True):
            item.future.set_result(given)


def drop_if_broken() -> None:
    """Close the lane's connection if it broke (the database restarted): the next query opens another."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def answer(batch: list[Pending]) -> list[Answer]:
    """Decide and record a batch of pushes (steps 1–4 of the module docstring); one answer each."""
    answers: list[Answer | None] = [None] * len(batch)
    now = time.monotonic()
    live = []
    for index, item in enumerate(batch):
        if now - item.arrived > settings.PUSH_MAX_WAIT_SECONDS:
            answers[index] = BUSY
        else:
            live.append(index)
    tokens = {batch[i].token for i in live}
    servers = {s.push_token: s for s in Server.objects.filter(push_token__in=tokens, protocol=Protocol.PUSH)}
    per_server: dict[int, list[int]] = {}
    for index in live:
        server = servers.get(batch[index].token)
        if server is None:
            answers[index] = UNKNOWN
        else:
            per_server.setdefault(server.pk, []).append(index)
    allowed, period = parse_rate(settings.PUSH_THROTTLE_RATE)
    counted = hit_many({f"push:{pk}": len(indexes) for pk, indexes in per_server.items()}, period)
    results: list[tuple[int, CheckResult]] = []
    for pk, indexes in per_server.items():
        count, resets_at = counted[f"push:{pk}"]
        room = max(0, allowed - (count - len(indexes)))
        retry = max(1, int(resets_at - time.time()))
        for index in indexes[room:]:
            throttled = f"Request was throttled. Expected available in {retry} seconds."
            answers[index] = (429, {"ok": False, "detail": throttled}, retry)
    for index in sorted(i for indexes in per_server.values() for i in indexes):
        if answers[index] is not None:
            continue
        item = batch[index]
        server = servers[item.token]
        decided = _check(item, server)
        if isinstance(decided, tuple):
            answers[index] = decided
        else:
            results.append((index, push.push_result(server, now=item.at, **decided)))
            server.push_started_at = None  # the run a /start began ends with its first push
    for index, given in _record(results):
        answers[index] = given
    return [given or FAILED for given in answers]


def _check(item: Pending, server: Server) -> Answer | dict[str, Any]:
    """The push's parameters for ``push.push_result``, or its 400 or 409 as the DRF view answers."""
    code = None
    if item.signal is not None and item.signal != "fail":
        code = int(item.signal)
        if not 0 <= code <= 255:
            return 400, {"ok": False, "exit_status": ["An exit status is 0 to 255."]}, None
    data, errors = clean(item.params)
    if errors:
        return 400, {"ok": False, **errors}, None
    if not server.is_active:
        return PAUSED
    up, msg = data["status"] == "up", data["msg"]
    if item.signal == "fail":
        up = False
    elif code is not None:
        up, said = push.exit_status(code)
        msg = f"{said}: {msg}" if said and msg else said or msg
    return {"up": up, "msg": msg, "ping": data["ping"], "value": data["value"]}


def _record(results: list[tuple[int, CheckResult]]) -> list[tuple[int, Answer]]:
    """Record the checked pushes in one transaction; if that fails, each alone."""
    if not results:
        return []
    try:
        kept = {rec.state.server_id for rec in record([r for _, r in results])}
        return [(index, OK if r.server.pk in kept else UNKNOWN) for index, r in results]
    except Exception:
        log.exception("push_batch_failed pushes=%s (recording each alone)", len(results))
        drop_if_broken()
    answered = []
    for index, result in results:
        try:
            answered.append((index, OK if record([result]) else UNKNOWN))
        except Exception:
            log.exception("push_failed server_id=%s", result.server.pk)
            drop_if_broken()
            answered.append((index, FAILED))
    return answered


LANE = PushLane()


def _empty_body(scope: dict[str, Any]) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return False
        if name == b"transfer-encoding":
            return False
    return True


def _host_allowed(scope: dict[str, Any]) -> bool:
    for name, value in scope["headers"]:
        if name == b"host":
            domain, _ = split_domain_port(value.decode("latin-1"))
            return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
    return False


class LeanPushes:
    """ASGI: answer the lean pushes (module docstring) through ``LANE``; pass everything else on."""

    def __init__(self, app: Any, lane: PushLane = LANE) -> None:
        self.app = app
        self.lane = lane

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        matched = None
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            matched = PATHS.fullmatch(scope["path"])
        if matched is None or not _empty_body(scope) or not _host_allowed(scope):
            await self.app(scope, receive, send)
            return
        query = scope["query_string"].decode("utf-8", "replace")
        params = dict(parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace"))
        item = Pending(matched["token"], matched["signal"], params, time.monotonic(), timezone.now())
        status, body, retry = await asyncio.wrap_future(self.lane.submit(item))
        await send_json(send, status, body, retry_after=retry, headers=HEADERS)
