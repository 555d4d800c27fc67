"""A daphne process keeps its PostgreSQL connections bounded under concurrent load.

300 authenticated requests from 30 concurrent clients against a real daphne subprocess, on a
throwaway PostgreSQL of the test's own (tests.services), while ``pg_stat_activity`` is sampled.
Before the fix, DB_CONN_MAX_AGE=60 left one connection behind per request thread: 146 for 300
requests, and a default server (100 connections) then answered "too many clients" 500s.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from django.conf import settings

from conftest import REQUIRE_SERVICES, require_postgres
from monitoring.tests.test_live_e2e import daphne
from tests.services import ThrowawayPostgres, postgres_bin, throwaway_postgres

pytestmark = [pytest.mark.postgres]

CLIENTS = 30
REQUESTS = 300
DATABASE = "pulseguard_conn"
PASSWORD = "conn-test-passphrase-1"


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )


def app_env(pg: ThrowawayPostgres, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DB_POOL_MAX_SIZE"}}
    env.update(
        ENVIRONMENT="development",
        DATABASE_URL=pg.url(DATABASE),
        CHANNEL_LAYER_TYPE="memory",
        AUTH_THROTTLE_RATE="1000/minute",
        LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def pg() -> Iterator[ThrowawayPostgres]:
    require_postgres()  # the PostgreSQL suite's test; the newcomer's SQLite run skips it
    if postgres_bin() is None:
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL server binaries are required (PULSEGUARD_REQUIRE_SERVICES=1)")
        pytest.skip("no PostgreSQL server binaries")
    with throwaway_postgres(DATABASE, max_connections=100) as server:
        env = app_env(server)
        manage(env, "migrate", "--noinput")
        code = f"from django.contrib.auth.models import User; User.objects.create_user('load', password='{PASSWORD}')"
        manage(env, "shell", "-c", code)
        yield server


def app_connections(pg: ThrowawayPostgres) -> int:
    """Connections of clients to the application's database (the sampler's own is to
    ``postgres``). Not PostgreSQL's own processes: an autovacuum worker also shows that
    database's name (the likeliest fifth "connection" a pool of four was once seen with)."""
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            [DATABASE],
        ).fetchone()[0]


async def load(port: int) -> list[int]:
    codes: list[int] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        token = (await http.post("/api/auth/token/", json={"username": "load", "password": PASSWORD})).json()["access"]
    remaining = iter(range(REQUESTS))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in remaining:
                response = await http.get("/api/servers/", headers={"Authorization": f"Bearer {token}"})
                codes.append(response.status_code)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return codes


@pytest.mark.parametrize(
    "extra, bound, idle",
    [
        ({"DB_CONN_MAX_AGE": "60"}, CLIENTS, 0),  # the setting: ignored by the web process
        ({"DB_POOL_MAX_SIZE": "4"}, 4, 4),  # psycopg's pool: never more than its size
    ],
    ids=["conn-max-age-ignored-under-asgi", "pool"],
)
def test_connections_stay_bounded_and_are_released(pg, extra, bound, idle):
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(app_connections(pg))
            time.sleep(0.05)

    with daphne(app_env(pg, **extra)) as port:
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            codes = asyncio.run(load(port))
        finally:
            stop.set()
            sampler.join()
        assert codes == [200] * REQUESTS, sorted(set(codes))
        deadline = time.monotonic() + 10
        while (left := app_connections(pg)) > idle:
            assert time.monotonic() < deadline, f"{left} connections still open after the load"
            time.sleep(0.1)
    peak = max(samples)
    print(f"peak={peak} left={left} {extra}")
    assert 0 < peak <= bound, samples
