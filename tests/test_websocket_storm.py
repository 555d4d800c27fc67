"""A WebSocket connect storm recovers (issue 14 D.20, SPEC §23): after a Redis blip or a web
restart every dashboard reconnects at once. Against a real daphne (started here as ``bin/run``
starts it), 1,000 clients connecting together with valid tokens are all connected and answered
within 30 s. Before, on PostgreSQL, the handshakes queued behind database work on asgiref's
one thread (a new connection per call), daphne dropped them after its 5 s handshake deadline,
and clients retrying every 1–2 s never got in: 0 of 1,000 in 37 s. (SQLite's calls are cheap
enough that it coped; the PostgreSQL run, DATABASE_URL=postgres://…, is the one that pins it.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from tests.targets import free_port
from tests.test_embedded_live import ROOT, product_env, wait_for_port

CLIENTS = int(os.environ.get("STORM_CLIENTS", "1000"))
DEADLINE = 30.0

pytestmark = pytest.mark.timeout(180)


async def one_client(url: str, token: str, deadline: float, stats: dict[str, int]) -> bool:
    """Connect, subscribe and get the answer; on failure retry after 1–2 s like an old dashboard."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while loop.time() < deadline:
        attempt += 1
        try:
            async with websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10, close_timeout=1
            ) as ws:
                stats["opened"] += 1
                await ws.send(json.dumps({"action": "subscribe"}))
                answer = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - loop.time())))
                if answer.get("type") == "subscribed":
                    stats["retries"] += attempt - 1
                    # Stay connected until everyone is in: the storm is all of them at once.
                    stats["connected"] += 1
                    while stats["connected"] < CLIENTS and loop.time() < deadline:
                        await asyncio.sleep(0.2)
                    return True
        except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as exc:
            name = type(exc).__name__
            stats[name] = stats.get(name, 0) + 1
        await asyncio.sleep(1 + (attempt % 2))
    return False


async def storm(url: str, token: str) -> tuple[int, dict[str, int], float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    stats = {"connected": 0, "retries": 0, "opened": 0}
    results = await asyncio.gather(*(one_client(url, token, started + DEADLINE, stats) for _ in range(CLIENTS)))
    return sum(results), stats, loop.time() - started


def storm_database(tmp_path: Path) -> str:
    """SQLite in ``tmp_path``, or with DATABASE_URL on PostgreSQL a fresh database beside it
    (where the storm hurt most: a new connection per database call)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp_path / 'storm.sqlite3'}"
    import psycopg

    base, _, name = url.rpartition("/")
    storm = f"{name}_storm"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{storm}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{storm}"')
    return f"{base}/{storm}"


def test_1000_simultaneous_websocket_clients_are_all_connected(tmp_path: Path) -> None:
    port = free_port()
    env = product_env(tmp_path, port)
    env["DATABASE_URL"] = storm_database(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    # daphne logs a line per connect: to a file, since a pipe nobody reads fills and stalls it.
    log = (tmp_path / "daphne.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(port, proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            user = {"username": "stormy", "email": "s@example.com", "password": "a-long-pass-phrase-9"}
            assert client.post("/api/auth/register/", json=user).status_code == 201
            token = client.post("/api/auth/token/", json=user).json()["access"]
        connected, stats, took = asyncio.run(storm(f"ws://127.0.0.1:{port}/ws/status/", token))
        assert connected == CLIENTS, f"{connected} of {CLIENTS} connected in {took:.1f} s ({stats})"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
