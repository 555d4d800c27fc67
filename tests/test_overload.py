"""core.overload: past WEB_MAX_INFLIGHT requests at once, a worker answers 503 with Retry-After
at once instead of queueing; health, /metrics, SSE streams, pushes and WebSockets are not counted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import override_settings

from core.overload import InFlightLimit


class Held:
    """An application whose requests stay in flight until released; counts what reached it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.reached: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.reached.append(scope["path"])
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, path: str, kind: str = "http") -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": kind, "path": path}, None, send)
    start = sent[0] if sent else {"status": None, "headers": []}
    return start["status"], dict(start["headers"])


@override_settings(WEB_MAX_INFLIGHT=2)
def test_past_the_bound_a_request_is_answered_503_at_once_and_nothing_of_it_runs():
    async def scenario() -> None:
        inner = Held()
        app = InFlightLimit(inner)
        first = [asyncio.create_task(call(app, f"/api/servers/?n={n}")) for n in range(2)]
        await asyncio.sleep(0.01)
        status, headers = await asyncio.wait_for(call(app, "/api/servers/"), 1)
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert len(inner.reached) == 2  # the third never reached Django
        inner.release.set()
        assert [(await task)[0] for task in first] == [200, 200]
        assert app.in_flight == 0
        assert (await call(app, "/api/servers/"))[0] == 200  # room again

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/api/health/", "http"),
        ("/metrics", "http"),
        ("/api/events/status/", "http"),
        ("/api/push/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG/", "http"),
        ("/ping/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "http"),
        ("/ws/status/", "websocket"),
    ],
)
@override_settings(WEB_MAX_INFLIGHT=1)
def test_health_metrics_streams_pushes_and_websockets_are_not_counted(path, kind):
    async def scenario() -> None:
        inner = Held()
        app = InFlightLimit(inner)
        busy = asyncio.create_task(call(app, "/api/servers/"))
        await asyncio.sleep(0.01)
        exempt = asyncio.create_task(call(app, path, kind))
        await asyncio.sleep(0.01)
        assert inner.reached == ["/api/servers/", path]  # let through although the worker is full
        inner.release.set()
        assert (await busy)[0] == (await exempt)[0] == 200

    asyncio.run(scenario())


@override_settings(WEB_MAX_INFLIGHT=1)
def test_a_request_that_fails_frees_its_place():
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        app = InFlightLimit(failing)
        with pytest.raises(RuntimeError):
            await call(app, "/api/servers/")
        assert app.in_flight == 0

    asyncio.run(scenario())


def test_the_asgi_application_bounds_every_http_request():
    from api.lean_push import LeanPushes
    from core.asgi import application

    http = getattr(application, "application_mapping", {}).get("http")
    # The lean push path answers first (its own queue bound, api.lean_push); the rest is bounded.
    assert isinstance(http, LeanPushes) and isinstance(http.app, InFlightLimit)
