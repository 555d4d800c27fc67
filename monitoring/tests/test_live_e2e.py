"""Across processes, against the real PostgreSQL and Redis: checks run by ``check_servers`` and by
``start_scheduler`` reach a WebSocket and an SSE client of a separate daphne process, and an SSE
client reconnecting with Last-Event-ID gets exactly what it missed.

The subprocesses share the pytest-django test database (committed data: ``transactional_db``),
so this runs on PostgreSQL only; SQLite's in-memory test database cannot be shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis.asyncio
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from conftest import require_postgres, require_redis
from monitoring.choices import Protocol, Status
from monitoring.models import PingResult, Server
from monitoring.services.live.publish import server_group
from tests.live import SSEEvent, parse_block, token_for
from tests.targets import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BASE_DIR = Path(settings.BASE_DIR)
WAIT = 20.0  # seconds any single step may take before the test fails


def service_env() -> dict[str, str]:
    """The environment of the subprocesses: this test's database, and Redis under our own prefix."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return {
        **os.environ,
        "ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "core.settings.development",
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CHANNEL_LAYER_TYPE": "redis",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_LAYER_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", "pulseguard") + "_e2e",
        "LOG_LEVEL": "warning",
    }


@contextlib.contextmanager
def daphne(env: dict[str, str]) -> Iterator[int]:
    """daphne serving core.asgi on a free loopback port; stopped (and its log shown on failure) after."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + WAIT
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("daphne did not start")
                time.sleep(0.1)
            yield port
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-5000:])  # shown by pytest on failure
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def manage(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "manage.py", *args, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


class SSEReader:
    """A real HTTP client reading the SSE stream block by block."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.aiter_text()
        self.buffer = ""

    async def next(self) -> SSEEvent:
        while "\n\n" not in self.buffer:
            self.buffer += await asyncio.wait_for(anext(self.chunks), WAIT)
        block, self.buffer = self.buffer.split("\n\n", 1)
        return parse_block(block)

    async def events(self, count: int) -> list[SSEEvent]:
        found: list[SSEEvent] = []
        while len(found) < count:
            event = await self.next()
            if event.comment is None:
                found.append(event)
        return found


@contextlib.asynccontextmanager
async def sse(port: int, token: str, server_id: int, last_event_id: str | None = None) -> AsyncIterator[SSEReader]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    url = f"http://127.0.0.1:{port}/api/events/status/?server_id={server_id}"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT, read=None)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200
        yield SSEReader(response)


async def group_size(env: dict[str, str], group: str) -> int:
    client = redis.asyncio.Redis.from_url(env["REDIS_URL"])
    try:
        return await client.zcard(f"{env['CHANNEL_LAYER_PREFIX']}:group:{group}")
    finally:
        await client.aclose()


async def ws_update(ws: Any) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
    assert frame["type"] == "update", frame
    return frame


@pytest.mark.timeout(180)
def test_checks_from_other_processes_reach_websocket_and_sse_clients_of_daphne(transactional_db, alice, http_target):
    require_postgres()
    require_redis()
    http_target.set("/", 200, "ok")
    server = Server.objects.create(
        owner=alice, name="shop", protocol=Protocol.HTTP, host="127.0.0.1", port=http_target.port, timeout=2
    )
    token, env = token_for(alice), service_env()

    async def scenario(port: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/status/", additional_headers=headers, open_timeout=WAIT
        ) as ws:
            await ws.send(json.dumps({"action": "subscribe", "server_ids": [server.pk]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "subscribed", "servers": [server.pk]}

            async with sse(port, token, server.pk) as stream:
                retry, states, _ = await stream.events(3)
                assert retry.retry == 5000 and states.json()[0]["status"] == Status.UNKNOWN

                # 1. A check_servers process: up.
                await manage(env, "check_servers", "--server", str(server.pk))
                update = await ws_update(ws)
                assert update["status"]["status"] == Status.UP
                ping, state = await stream.events(2)
                assert (ping.event, state.event) == ("ping", "status")
                assert ping.id == state.id == str(update["ping"]["id"])
                assert state.json()[0]["status"] == Status.UP

                # 2. A scheduler process while the target fails: down, live on both.
                http_target.set("/", 500, "broken")
                await sync_to_async(Server.objects.filter(pk=server.pk).update)(next_check_at=timezone.now())
                scheduler = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *("manage.py", "start_scheduler", "--tick", "0.5"),
                    cwd=BASE_DIR,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    update = await ws_update(ws)
                    ping, state = await stream.events(2)
                finally:
                    scheduler.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(scheduler.wait(), WAIT)
                assert update["status"]["status"] == state.json()[0]["status"] == Status.DOWN
                assert ping.id == str(update["ping"]["id"])
                last_seen = ping.id

            # 3. The SSE client is away for two checks; the WebSocket client sees them live.
            http_target.set("/", 200, "ok")
            await manage(env, "check_servers", "--server", str(server.pk))
            await manage(env, "check_servers", "--server", str(server.pk))
            missed = [(await ws_update(ws))["ping"]["id"] for _ in range(2)]
            stored = await sync_to_async(
                lambda: list(
                    PingResult.objects.filter(server=server, id__gt=int(last_seen))
                    .order_by("id")
                    .values_list("id", flat=True)
                )
            )()
            assert missed == stored

            async with sse(port, token, server.pk, last_event_id=last_seen) as stream:
                retry, *replayed = await stream.events(4)
                assert [(e.event, e.id) for e in replayed] == [
                    ("ping", str(missed[0])),
                    ("ping", str(missed[1])),
                    ("status", str(missed[1])),
                ]
                assert replayed[-1].json()[0]["status"] == Status.UP
                assert await group_size(env, server_group(server.pk)) == 1  # daphne's process, for both clients

        # 4. Both clients have gone: daphne's process left the server's group.
        deadline = time.monotonic() + WAIT
        while await group_size(env, server_group(server.pk)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await group_size(env, server_group(server.pk)) == 0

    async def run(port: int) -> None:
        try:
            await asyncio.wait_for(scenario(port), 150)
        finally:
            # The ORM calls above ran on asgiref's worker thread: close its connection so the
            # test database can be dropped.
            await sync_to_async(connections.close_all)()

    with daphne(env) as port:
        asyncio.run(run(port))
