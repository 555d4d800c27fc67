"""End-to-end benchmark of the check engine: real ``start_scheduler`` processes against a local
fleet, this engine and a previous one (``--old``: a checkout of an earlier commit) in the same run.

    .venv/bin/python bench/engine_e2e.py --servers 1000 --interval 20 --hanging 20 --failing 20 \\
        --schedulers 1 --seconds 60 --old /tmp/i7_old
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_i7_bench CHANNEL_LAYER_TYPE=redis \\
        .venv/bin/python bench/engine_e2e.py --servers 3000 --schedulers 3 --kill-one-after 20

1. A fleet process (aiohttp) listens on up to ``--ports`` loopback ports; every server has its
   own URL (port and path): ``/ok/<n>``, ``/fail/<n>`` (HTTP 500) or ``/hang/<n>`` (never
   answers; the server's timeout is 5 s).
2. For each engine: a fresh database (SQLite file, or a PostgreSQL database of that name with a
   suffix), migrated by that engine's code, N servers whose first checks are spread over one
   interval, then ``--schedulers`` start_scheduler processes for ``warm-up + seconds``.
3. From the stored PingResults of the measured window: checks delivered of those asked,
   lateness (start − due on each server's fixed grid; for the previous engine, whose results
   carry the end time and whose grid drifts, the stretch of each gap over the interval),
   duplicates (two checks of a server less than a quarter interval apart), missed checks (gaps
   longer than 1.5 intervals), the schedulers' CPU per check (/proc utime+stime over the window)
   and resident memory at the end, and bytes per stored result (SQLite only).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")


def fleet(ports: int, ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import asyncio

    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="broken")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(text="late")

    async def main() -> None:
        app = web.Application()
        app.add_routes([web.get("/ok/{n}", ok), web.get("/fail/{n}", fail), web.get("/hang/{n}", hang)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        bound = []
        for _ in range(ports):
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            bound.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        ready.put(bound)
        await asyncio.Event().wait()

    asyncio.run(main())


def env_for(db_url: str) -> dict[str, str]:
    # DEBUG off as in production: with DEBUG every query is kept in memory (connection.queries).
    env = dict(os.environ, DATABASE_URL=db_url, LOG_LEVEL="warning", ENVIRONMENT="development", DEBUG="false")
    env.setdefault("CHANNEL_LAYER_TYPE", "memory")
    env["MONITOR_ALLOW_PRIVATE_TARGETS"] = "true"
    return env


def reset_database(db_url: str) -> None:
    if db_url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(db_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        return
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    admin = db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


SETUP = """
import sys, datetime
import django
django.setup()
from django.contrib.auth.models import User
from django.utils import timezone
from monitoring.models import Server, ServerStatus
n, interval, hanging, failing = (int(a) for a in sys.argv[1:5])
ports = [int(p) for p in sys.argv[5].split(",")]
user = User.objects.create_user("bench")
start = timezone.now() + datetime.timedelta(seconds=5)
servers = []
for i in range(n):
    kind = "hang" if i < hanging else "fail" if i < hanging + failing else "ok"
    offset = ((i * 0.6180339887498949) % 1.0) * interval
    servers.append(Server(owner=user, team=user.personal_team, name=f"s{i}", protocol="http", host="127.0.0.1",
                          port=ports[i % len(ports)], path=f"/{kind}/{i}", check_interval=interval, timeout=5,
                          retries=2,
                          next_check_at=start + datetime.timedelta(seconds=offset)))
created = Server.objects.bulk_create(servers, batch_size=1000)
ServerStatus.objects.bulk_create([ServerStatus(server=s, status="unknown") for s in created], batch_size=1000)
print(start.timestamp())
"""

COLLECT = """
import sys, json
import django
django.setup()
from django.db import connection
from monitoring.models import PingResult, Server
rows = PingResult.objects.values_list("server_id", "check_timestamp", "status")
first = dict(Server.objects.values_list("id", "name"))
out = {}
for sid, ts, st in rows.iterator(chunk_size=5000):
    out.setdefault(sid, []).append((ts.timestamp(), st))
json.dump({"pings": out, "vendor": connection.vendor}, sys.stdout)
"""


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]


def run_engine(label: str, code: Path, db_url: str, args: argparse.Namespace, ports: list[int]) -> dict:
    env = env_for(db_url)
    reset_database(db_url)
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=code, env=env, check=True, capture_output=True)
    setup = subprocess.run(
        [
            PY,
            "-c",
            SETUP,
            str(args.servers),
            str(args.interval),
            str(args.hanging),
            str(args.failing),
            ",".join(map(str, ports)),
        ],
        cwd=code,
        env=dict(env, DJANGO_SETTINGS_MODULE="core.settings.development"),
        check=True,
        capture_output=True,
        text=True,
    )
    first_due = float(setup.stdout.strip().splitlines()[-1])
    procs = [
        subprocess.Popen(
            [PY, "manage.py", "start_scheduler", "--concurrency", str(args.concurrency)],
            cwd=code,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.schedulers)
    ]
    warm = args.interval + 5
    time.sleep(5 + warm)
    window_start = time.time()
    cpu0 = {p.pid: proc_cpu(p.pid) for p in procs}
    killed_at = None
    killed = None
    deadline = window_start + args.seconds
    while time.time() < deadline:
        if args.kill_one_after and killed is None and time.time() >= window_start + args.kill_one_after:
            killed = procs[0]
            cpu0.pop(killed.pid)
            killed.send_signal(signal.SIGKILL)
            killed_at = time.time()
        time.sleep(0.5)
    window_end = time.time()
    alive = [p for p in procs if p is not killed]
    cpu = sum(proc_cpu(p.pid) - cpu0[p.pid] for p in alive)
    rss = [round(proc_rss_mb(p.pid)) for p in alive]
    for p in alive:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    import json

    collected = subprocess.run(
        [PY, "-c", COLLECT],
        cwd=code,
        env=dict(env, DJANGO_SETTINGS_MODULE="core.settings.development"),
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(collected.stdout)
    pings = {int(k): sorted(v) for k, v in data["pings"].items()}
    interval = args.interval
    asked = args.servers * (window_end - window_start) / interval
    delivered = late = 0
    lateness: list[float] = []
    stretch: list[float] = []
    duplicates = missed = 0
    max_gap_after_kill = 0.0
    in_window = 0
    ids = sorted(pings)
    # Servers were created in order, so index i (from the name s<i>) is id order.
    for index, sid in enumerate(ids):
        times = [t for t, _ in pings[sid]]
        offset = ((index * 0.6180339887498949) % 1.0) * interval
        grid0 = first_due + offset
        for t in times:
            if window_start <= t < window_end:
                in_window += 1
                lateness.append(((t - grid0) % interval) if ((t - grid0) % interval) < interval / 2 else 0.0)
        for a, b in zip(times, times[1:], strict=False):
            if b < window_start - interval or a > window_end:
                continue
            gap = b - a
            if gap < interval / 4:  # the same due check twice (a taken-over late check is followed ~interval/2 on)
                duplicates += 1
            elif gap > 1.5 * interval:
                missed += round(gap / interval) - 1
            stretch.append(gap - interval)
            if killed_at is not None and b > killed_at:
                max_gap_after_kill = max(max_gap_after_kill, gap)
    delivered = in_window
    del late
    result = {
        "engine": label,
        "database": data["vendor"],
        "servers": args.servers,
        "interval": interval,
        "schedulers": args.schedulers,
        "window_s": round(window_end - window_start, 1),
        "asked": round(asked),
        "delivered": delivered,
        "delivered_pct": round(100 * delivered / asked, 2) if asked else 0,
        "lateness_p50": round(pct(lateness, 0.5), 3),
        "lateness_p99": round(pct(lateness, 0.99), 3),
        "lateness_max": round(max(lateness, default=float("nan")), 3),
        "gap_stretch_p50": round(pct(stretch, 0.5), 3),
        "gap_stretch_p99": round(pct(stretch, 0.99), 3),
        "gap_stretch_max": round(max(stretch, default=float("nan")), 3),
        "duplicates": duplicates,
        "missed": missed,
        "cpu_ms_per_check": round(1000 * cpu / delivered, 3) if delivered else None,
        "rss_mb": rss,
        "never_checked": args.servers - len(pings),
    }
    if killed_at is not None:
        result["max_gap_after_kill_s"] = round(max_gap_after_kill, 1)
    if db_url.startswith("sqlite:///"):
        size = sum(Path(db_url.removeprefix("sqlite:///") + s).stat().st_size for s in ("",) if True)
        total = sum(len(v) for v in pings.values())
        result["db_bytes_per_result"] = round(size / total) if total else None
    errors = [p.stderr.read() if p.stderr else "" for p in procs]
    result["scheduler_warnings"] = sum(e.count("maximum number of running instances") for e in errors)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--hanging", type=int, default=20)
    parser.add_argument("--failing", type=int, default=20)
    parser.add_argument("--schedulers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60, help="The measured window, after one interval of warm-up.")
    parser.add_argument("--ports", type=int, default=500)
    parser.add_argument(
        "--kill-one-after", type=float, default=0, help="kill -9 one scheduler this far into the window."
    )
    parser.add_argument("--old", default="", help="A checkout of the previous engine (e.g. git archive 8396ba0).")
    parser.add_argument("--old-label", default="previous", help="What the results of --old are called.")
    parser.add_argument("--only-old", action="store_true")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / 'e2e.sqlite3'}")
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    target = multiprocessing.Process(target=fleet, args=(min(args.ports, args.servers), ready), daemon=True)
    target.start()
    ports = ready.get(timeout=60)
    print(f"fleet on {len(ports)} ports; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores (shared)")
    runs = []
    if not args.only_old:
        runs.append(
            ("new", ROOT, base.replace(".sqlite3", "-new.sqlite3") if base.startswith("sqlite") else base + "_new")
        )
    if args.old:
        runs.append(
            (
                args.old_label,
                Path(args.old),
                base.replace(".sqlite3", "-old.sqlite3") if base.startswith("sqlite") else base + "_old",
            )
        )
    try:
        for label, code, db_url in runs:
            result = run_engine(label, code, db_url, args, ports)
            print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
