"""Faults on the real services: PostgreSQL and Redis taken away from a running PulseGuard, and given back.

The product runs as it does in production — a daphne process and a ``start_scheduler``
process — on a throwaway PostgreSQL and a throwaway redis-server that this module starts
(tests.services), never the machine's shared ones. A local HTTP target is checked, and a
local webhook receiver takes the alerts. What is measured here is what docs/OPERATIONS.md says.

Runs in the PostgreSQL/Redis suite (skipped without it, failing with PULSEGUARD_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from django.conf import settings

from conftest import REQUIRE_SERVICES, require_postgres, require_redis
from monitoring.consumers import INTERRUPTED
from monitoring.tests.test_live_e2e import daphne
from tests.services import ThrowawayPostgres, ThrowawayRedis, postgres_bin, throwaway_postgres, throwaway_redis
from tests.targets import LocalHTTPServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(300)]

DATABASE = "pulseguard_faults"
PASSWORD = "fault-passphrase-1"
WAIT = 20.0  # the most any single step may take
BACK_WITHIN = 5.0  # live updates must flow again this soon after a service returns
REDIS_OUTAGE = 20.0  # seconds Redis stays away (the "20-second Redis restart")
POSTGRES_OUTAGE = 5.0


@dataclass
class Stack:
    pg: ThrowawayPostgres
    redis: ThrowawayRedis
    target: LocalHTTPServer
    receiver: LocalHTTPServer
    port: int
    token: str
    server_id: int

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.url(DATABASE), autocommit=True, connect_timeout=2) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def check_now(self) -> None:
        """What "check now" does to the schedule: the scheduler (tick 0.5 s) picks it up at once."""
        self.sql(
            "UPDATE monitoring_server SET next_check_at = now() - interval '1 second' WHERE id = %s", self.server_id
        )

    def pings(self) -> int:
        return self.sql("SELECT count(*) FROM monitoring_pingresult")[0][0]

    def alerts(self) -> list[str]:
        return [r.json()["event"] for r in self.receiver.requests if r.path == "/hook"]

    def health(self) -> tuple[int, dict[str, str]]:
        response = httpx.get(f"http://127.0.0.1:{self.port}/api/health/", timeout=WAIT)
        return response.status_code, response.json()


def wait_for(condition: Any, what: str, timeout: float = WAIT) -> float:
    """Poll ``condition`` until it is true; the seconds it took."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout:g}s")
        time.sleep(0.1)


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_postgres()
    require_redis()
    if postgres_bin() is None:
        (pytest.fail if REQUIRE_SERVICES else pytest.skip)("no PostgreSQL server binaries")
    with (
        throwaway_postgres(DATABASE) as pg,
        throwaway_redis() as redis,
        LocalHTTPServer() as target,
        LocalHTTPServer() as receiver,
    ):
        target.set("/", 200, "ok")
        receiver.set("/hook", 200, "thanks")
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DB_POOL_MAX_SIZE"}}
        env.update(
            ENVIRONMENT="development",
            DATABASE_URL=pg.url(DATABASE),
            CHANNEL_LAYER_TYPE="redis",
            REDIS_URL=redis.url,
            CHANNEL_LAYER_PREFIX="faults",
            MONITOR_ALLOW_PRIVATE_TARGETS="true",
            NOTIFICATION_SEND_INTERVAL="1",
            NOTIFICATION_COOLDOWN_MINUTES="0",
            LIVE_PUBLISH_TIMEOUT="1",
            AUTH_THROTTLE_RATE="1000/minute",
            LOG_LEVEL="warning",
        )
        manage(env, "migrate", "--noinput")
        seed = f"""
from django.contrib.auth.models import User
from monitoring.models import NotificationConfig, Server
user = User.objects.create_user("ops", password="{PASSWORD}")
server = Server.objects.create(owner=user, name="shop", protocol="http", host="127.0.0.1",
                               port={target.port}, timeout=2, retries=1)
NotificationConfig.objects.create_for(server, notification_type="webhook",
                                  recipient="{receiver.url("/hook")}", secret="s" * 32, cooldown_minutes=0)
print(server.pk)
"""
        server_id = int(manage(env, "shell", "-c", seed).split()[-1])
        with daphne(env) as port:
            scheduler = subprocess.Popen(
                [sys.executable, "manage.py", "start_scheduler", "--tick", "0.5"],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                login = httpx.post(
                    f"http://127.0.0.1:{port}/api/auth/token/", json={"username": "ops", "password": PASSWORD}
                )
                stack = Stack(pg, redis, target, receiver, port, login.json()["access"], server_id)
                wait_for(lambda: stack.pings() >= 1, "the scheduler's first check")
                yield stack
            finally:
                scheduler.terminate()
                scheduler.wait(20)


async def subscribe(stack: Stack) -> Any:
    """A WebSocket client subscribed to the server, retrying like the dashboard (every 0.5 s here)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{stack.port}/ws/status/",
                additional_headers={"Authorization": f"Bearer {stack.token}"},
                open_timeout=WAIT,
            )
            await ws.send(json.dumps({"action": "subscribe", "server_ids": [stack.server_id]}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            if frame == {"type": "subscribed", "servers": [stack.server_id]}:
                return ws
        except (websockets.ConnectionClosed, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail("the WebSocket client could not subscribe again")
        await asyncio.sleep(0.5)


async def next_update(ws: Any, stack: Stack) -> dict[str, Any]:
    await asyncio.to_thread(stack.check_now)
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if frame["type"] == "update":
            return frame


async def sse_live_event(stack: Stack) -> str:
    """Open the SSE stream, read past the snapshot, make a check and return the live event's name."""
    headers = {"Authorization": f"Bearer {stack.token}", "Accept": "text/event-stream"}
    url = f"http://127.0.0.1:{stack.port}/api/events/status/?server_id={stack.server_id}"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT, read=WAIT)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200
        buffer, blocks = "", []
        chunks = response.aiter_text()
        while len(blocks) < 3:  # retry, status snapshot, ping snapshot
            buffer += await asyncio.wait_for(anext(chunks), WAIT)
            *done, buffer = buffer.split("\n\n")
            blocks += [b for b in done if not b.startswith(":")]
        await asyncio.to_thread(stack.check_now)
        while True:
            *done, buffer = buffer.split("\n\n")
            live = [b for b in done if not b.startswith(":")]
            if live:
                return live[0].split("\n", 1)[0]
            buffer = "\n\n".join([*done, buffer]) if done else buffer
            buffer += await asyncio.wait_for(anext(chunks), WAIT)


def test_a_redis_outage_stops_nothing_but_live_updates_and_they_resume_within_seconds(stack):
    async def scenario() -> dict[str, float]:
        ws = await subscribe(stack)
        assert (await next_update(ws, stack))["status"]["status"] == "up"

        stack.redis.stop()
        began = time.monotonic()
        # 1. Every open WebSocket is closed with 4012, so its client reconnects (not left silent).
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == INTERRUPTED
        closed_after = time.monotonic() - began
        # 2. Health says what is down; an SSE request answers 503 at once instead of hanging.
        status, body = await asyncio.to_thread(stack.health)
        assert (status, body["database"], body["channel_layer"]) == (503, "ok", "failed")
        async with httpx.AsyncClient(timeout=WAIT) as client:
            sse = await client.get(
                f"http://127.0.0.1:{stack.port}/api/events/status/",
                headers={"Authorization": f"Bearer {stack.token}"},
            )
        assert sse.status_code == 503
        # 3. Checks go on without Redis.
        before = await asyncio.to_thread(stack.pings)
        await asyncio.to_thread(stack.check_now)
        await asyncio.to_thread(wait_for, lambda: stack.pings() > before, "a check during the Redis outage")

        await asyncio.sleep(max(0.0, REDIS_OUTAGE - (time.monotonic() - began)))
        stack.redis.start()
        returned = time.monotonic()
        ws = await subscribe(stack)
        update = await next_update(ws, stack)
        back_after = time.monotonic() - returned
        assert update["status"]["status"] == "up"
        assert await sse_live_event(stack) in ("event: ping", "event: status")
        await ws.close()
        status, body = await asyncio.to_thread(stack.health)
        assert (status, body["channel_layer"]) == (200, "ok")
        return {"closed_after": closed_after, "back_after": back_after}

    timings = asyncio.run(scenario())
    print(
        f"redis outage: sockets closed after {timings['closed_after']:.2f}s, "
        f"update {timings['back_after']:.2f}s after return"
    )
    assert timings["back_after"] < BACK_WITHIN


def test_a_postgres_outage_pauses_checks_and_loses_or_repeats_no_alert(stack):
    stack.target.set("/", 500, "broken")
    stack.check_now()
    wait_for(lambda: stack.alerts().count("down") == 1, "the DOWN alert")

    async def scenario() -> dict[str, float]:
        ws = await subscribe(stack)
        stack.target.set("/", 200, "ok")  # the target recovers while the database is away
        stack.pg.stop()
        began = time.monotonic()
        status, body = await asyncio.to_thread(stack.health)
        health_after = time.monotonic() - began
        assert (status, body["database"], body["channel_layer"]) == (503, "failed", "ok")
        # An outage of a few seconds, with the scheduler ticking (and failing to claim) throughout.
        await asyncio.sleep(max(0.0, POSTGRES_OUTAGE - (time.monotonic() - began)))

        stack.pg.start()
        returned = time.monotonic()
        await asyncio.to_thread(wait_for, lambda: stack.health()[0] == 200, "health after PostgreSQL returned")
        update = await next_update(ws, stack)
        back_after = time.monotonic() - returned
        assert update["status"]["status"] == "up"
        await ws.close()
        return {"health_after": health_after, "back_after": back_after}

    timings = asyncio.run(scenario())
    wait_for(lambda: stack.alerts().count("recovery") == 1, "the recovery alert")
    time.sleep(3)  # three sender runs later, still exactly one of each
    assert stack.alerts().count("down") == 1 and stack.alerts().count("recovery") == 1, stack.alerts()
    states = stack.sql("SELECT status FROM monitoring_notificationdelivery ORDER BY id")
    assert [s for (s,) in states] == ["sent", "sent"]
    print(
        f"postgres outage: health 503 after {timings['health_after']:.2f}s, "
        f"update {timings['back_after']:.2f}s after return"
    )
    assert timings["back_after"] < BACK_WITHIN
