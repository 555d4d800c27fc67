"""Push throughput benchmark: pushes per second through one daphne process on PostgreSQL (SPEC §11).

One daphne process (core.asgi, PostgreSQL, the Redis channel layer so every push is published
as a live event as in production) serves ``GET /api/push/<token>/`` for N push monitors.
C keep-alive HTTP/1.1 connections, from one client process, push as fast as daphne answers
for D seconds, each to a random monitor of the N (so no single token is throttled; the
throttle itself still runs, with PUSH_THROTTLE_RATE raised out of the way). Every push is the
real path: token lookup, the throttle in the cache, one transaction through
``services.engine.recording.record`` (PingResult, ServerStatus, the push deadline), publish on commit.

Reported: pushes/s answered 200, errors (anything else, or a dropped connection), latency
p50/p99/max, daphne's share of a core, and whether the database holds exactly one PingResult
per 200 answered.

    python bench/bench_push.py                          # 200 monitors, 32 connections, 20 s
    python bench/bench_push.py --monitors 50 --connections 8 --seconds 5   # a quick run

Needs PostgreSQL (database pg_i10b_bench, created and migrated if missing) and Redis. The
client shares the machine (2 cores, with PostgreSQL, Redis and other work) with daphne.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/pg_i10b_bench"


def bench_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "core.settings.development",
        "DATABASE_URL": database_url,
        "CHANNEL_LAYER_TYPE": "redis",
        "CHANNEL_LAYER_PREFIX": "pg_i10b_bench",
        "PUSH_THROTTLE_RATE": "1000000/minute",
        "LOG_LEVEL": "warning",
        "DEBUG": "false",
    }


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare(database_url: str, env: dict[str, str], monitors: int) -> list[str]:
    """Create and migrate the bench database if needed; (re)create the bench user and its push monitors."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import User

    from monitoring.models import Server

    User.objects.filter(username="pushbench").delete()  # cascades to servers and their history
    user = User.objects.create_user("pushbench", "pushbench@example.com", "bench-password-1")
    servers = [
        Server.objects.create(owner=user, name=f"push-{i}", protocol="push", check_interval=3600)
        for i in range(monitors)
    ]
    return [s.push_token for s in servers]


def stored_pings() -> int:
    from monitoring.models import PingResult

    return PingResult.objects.filter(server__owner__username="pushbench").count()


async def connection(port: int, tokens: list[str], until: float, latencies: list[float], errors: list[str]) -> int:
    """One keep-alive connection pushing until ``until``; returns how many pushes were answered 200."""
    ok = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            request = f"GET /api/push/{random.choice(tokens)}/?ping=12 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            started = time.perf_counter()
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status == 200 and b'"ok":true' in body.replace(b" ", b""):
                ok += 1
            else:
                errors.append(f"{status} {body[:100]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"connection: {exc!r}")
    finally:
        writer.close()
    return ok


async def load(port: int, tokens: list[str], connections: int, seconds: float) -> tuple[int, list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    until = time.perf_counter() + seconds
    counts = await asyncio.gather(*(connection(port, tokens, until, latencies, errors) for _ in range(connections)))
    return sum(counts), latencies, errors


def wait_ready(port: int, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("daphne did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--monitors", type=int, default=200)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    env = bench_env(args.database_url)
    tokens = prepare(args.database_url, env, args.monitors)
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(args.port), "core.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_ready(args.port)
        asyncio.run(load(args.port, tokens, min(args.connections, 8), 2))  # warm up: connections, caches
        before = stored_pings()
        cpu0, t0 = cpu_seconds(daphne.pid), time.perf_counter()
        ok, latencies, errors = asyncio.run(load(args.port, tokens, args.connections, args.seconds))
        elapsed = time.perf_counter() - t0
        cpu = (cpu_seconds(daphne.pid) - cpu0) / elapsed
        time.sleep(0.5)
        stored = stored_pings() - before
    finally:
        daphne.terminate()
        try:
            daphne.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daphne.kill()
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    print(f"monitors={args.monitors} connections={args.connections} seconds={args.seconds:g}")
    print(f"pushes answered 200: {ok}  ({ok / elapsed:.0f}/s)")
    print(f"errors: {len(errors)}" + (f"  first: {errors[:3]}" if errors else ""))
    if ms:
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        print(f"latency ms: p50 {statistics.median(ms):.1f}  p99 {p99:.1f}  max {ms[-1]:.1f}")
    print(f"daphne: {cpu:.2f} of a core")
    print(f"PingResults stored in the run: {stored} ({'matches' if stored == ok else 'DOES NOT match'} the 200s)")


if __name__ == "__main__":
    main()
