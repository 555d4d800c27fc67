"""Push benchmark: pushes a second to many push URLs on PostgreSQL, open loop, as production runs (SPEC §11, §22).

Each design serves ``GET /api/push/<token>/?ping=12`` for N push monitors (PostgreSQL, the Redis
channel layer so every push is published to the live feeds, the throttle on with its rate raised
out of the way):

* ``new``: this tree under ``bin/serve`` with ``WEB_WORKERS=W`` (granian, several web processes
  on one port, as production runs), pushes answered by the lean path's group commit
  (``api.lean_push``);
* ``old`` (with ``--old DIR``, a checkout of the previous design): one daphne process, as it ran.

The client offers ``--rate`` pushes a second for ``--seconds``, open loop: each push is sent at
its scheduled time on a free keep-alive connection (a new one when none is free, up to
``--max-connections``), to the next of the N tokens in turn, so every monitor gets
rate / N pushes a second. Latency counts from the scheduled time, so a server that falls behind
shows it. A WebSocket client of the monitors' owner, subscribed to all N, collects every
``update`` it is sent.

Reported per design: pushes offered and answered 200 (and per second), errors by kind, latency
p50/p99/max, the web processes' share of a core, PingResults stored in the run against the 200s
(none lost, none doubled), and the pushes the live feed showed against those stored.

    python bench/bench_push.py --old /tmp/prev                          # 1,000 monitors at 1,000/s, 20 s
    python bench/bench_push.py --monitors 100 --rate 200 --seconds 5    # a quick run of the new design

Needs PostgreSQL (database pg_i20push_bench, created and migrated if missing) and Redis. The
client shares the machine (2 cores, with PostgreSQL, Redis and other work) with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/pg_i20push_bench"
LOG_DIR = Path(os.environ.get("TMPDIR", "/tmp"))  # the servers' output: bench_push_<kind>.log
TIMEOUT = 10.0  # seconds a push may take before the client gives up on it


def bench_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "core.settings.development",
        "DATABASE_URL": database_url,
        "CHANNEL_LAYER_TYPE": "redis",
        "CHANNEL_LAYER_PREFIX": "pg_i20push_bench",
        "PUSH_THROTTLE_RATE": "1000000/minute",
        # Well inside the client's TIMEOUT: a push still waiting then is refused, not stored after
        # its client gave up (which would count it twice when a cron wrapper retries).
        "PUSH_MAX_WAIT_SECONDS": "4",
        "LOG_LEVEL": "warning",
        "DEBUG": "false",
    }


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (bin/serve: granian and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def prepare(database_url: str, env: dict[str, str], monitors: int) -> tuple[list[str], list[int], str]:
    """Create and migrate the bench database if needed; (re)create the bench user and its push
    monitors; their tokens, ids and a JWT for the live feed."""
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
    from rest_framework_simplejwt.tokens import AccessToken

    from monitoring.models import Server

    User.objects.filter(username="pushbench").delete()  # cascades to servers and their history
    user = User.objects.create_user("pushbench", "pushbench@example.com", "bench-password-1")
    servers = [
        Server.objects.create(owner=user, name=f"push-{i}", protocol="push", check_interval=3600)
        for i in range(monitors)
    ]
    time.sleep(1.1)  # a token issued in the second its password was set may count as issued before it
    return [s.push_token for s in servers], [s.pk for s in servers], str(AccessToken.for_user(user))


def stored_pings(after_id: int) -> set[int]:
    from monitoring.models import PingResult

    rows = PingResult.objects.filter(server__owner__username="pushbench", id__gt=after_id)
    return set(rows.values_list("id", flat=True))


def last_ping_id() -> int:
    from django.db.models import Max

    from monitoring.models import PingResult

    return PingResult.objects.aggregate(top=Max("id"))["top"] or 0


@dataclass
class Tally:
    ok: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    connections: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Client:
    """Open-loop pushes over a pool of keep-alive HTTP/1.1 connections."""

    def __init__(self, port: int, max_connections: int, tally: Tally) -> None:
        self.port = port
        self.max_connections = max_connections
        self.tally = tally
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0

    async def push(self, token: str, scheduled: float) -> None:
        if self.idle:
            conn = self.idle.pop()
        elif self.open >= self.max_connections:
            self.tally.error("no free connection")
            return
        else:
            self.open += 1
            self.tally.connections += 1
            try:
                conn = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.open -= 1
                self.tally.error("connect")
                return
        reader, writer = conn
        try:
            writer.write(f"GET /api/push/{token}/?ping=12 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self.open -= 1
            writer.close()
            self.tally.error("timeout" if isinstance(exc, TimeoutError) else "connection dropped")
            return
        self.tally.latencies.append(time.perf_counter() - scheduled)
        status = int(head.split(b" ", 2)[1])
        if status == 200 and b'"ok":true' in body.replace(b" ", b""):
            self.tally.ok += 1
        else:
            self.tally.error(f"HTTP {status}")
        self.idle.append(conn)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def offer(port: int, tokens: list[str], rate: float, seconds: float, max_connections: int) -> Tally:
    """Send rate × seconds pushes on schedule; wait for the last answers (at most TIMEOUT)."""
    tally = Tally()
    client = Client(port, max_connections, tally)
    tasks = set()
    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(client.push(tokens[n % len(tokens)], scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=TIMEOUT + 1)
    client.close()
    return tally


async def live_feed(port: int, jwt: str, server_ids: list[int], seen: set[int], ready: asyncio.Event) -> None:
    """A dashboard's WebSocket, subscribed to every bench monitor: the ping ids of its updates."""
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/ws/status/?token={jwt}", max_size=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "server_ids": server_ids}))
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "subscribed":
                ready.set()
            elif frame.get("type") == "update":
                seen.add(frame["ping"]["id"])


def wait_ready(port: int, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server on port {port} did not become ready")


async def measure(
    port: int, pids: list[int], args: argparse.Namespace, tokens: list[str], ids: list[int], jwt: str
) -> dict:
    seen: set[int] = set()
    ready = asyncio.Event()
    feed = asyncio.ensure_future(live_feed(port, jwt, ids, seen, ready))
    async with asyncio.timeout(30):
        await ready.wait()
    await offer(port, tokens, min(args.rate, 200), 2, args.max_connections)  # warm up: connections, caches
    await asyncio.sleep(1)
    before = await asyncio.to_thread(last_ping_id)
    seen.clear()
    cpu0, mine0, t0 = cpu_seconds(pids), time.process_time(), time.perf_counter()
    tally = await offer(port, tokens, args.rate, args.seconds, args.max_connections)
    elapsed = time.perf_counter() - t0
    cpu, mine = (cpu_seconds(pids) - cpu0) / elapsed, (time.process_time() - mine0) / elapsed
    await asyncio.sleep(3)  # any push still being written
    stored = await asyncio.to_thread(stored_pings, before)
    waited, last = 0, -1
    while waited < 30 and not stored <= seen and len(seen) != last:  # the live feed's last events
        last = len(seen)
        await asyncio.sleep(3)
        waited += 3
    feed.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await feed
    return {"tally": tally, "elapsed": elapsed, "cpu": cpu, "client_cpu": mine, "stored": stored, "seen": seen}


def report(label: str, args: argparse.Namespace, result: dict) -> None:
    tally, elapsed, stored, seen = result["tally"], result["elapsed"], result["stored"], result["seen"]
    offered = int(args.rate * args.seconds)
    ms = sorted(x * 1000 for x in tally.latencies)
    print(f"== {label}")
    print(
        f"offered {offered} ({args.rate:g}/s for {args.seconds:g} s); "
        f"answered 200: {tally.ok} ({tally.ok / elapsed:.0f}/s)"
    )
    print(f"errors: {sum(tally.errors.values())} {tally.errors}  connections opened: {tally.connections}")
    if ms:
        p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        print(f"latency ms (from the scheduled send): p50 {p50:.1f}  p99 {p99:.1f}  max {ms[-1]:.1f}")
    per_push = result["cpu"] * 1000 / max(1, tally.ok / elapsed)
    print(
        f"web processes: {result['cpu']:.2f} of a core ({per_push:.2f} ms per push); client {result['client_cpu']:.2f}"
    )
    verdict = "none lost, none doubled" if len(stored) == tally.ok else "DOES NOT match the 200s"
    print(f"PingResults stored in the run: {len(stored)} ({verdict})")
    missing = len(stored - seen)
    print(
        f"live feed showed {len(seen & stored)} of the {len(stored)} stored"
        + (f" ({missing} MISSING)" if missing else " (all)")
    )


def start_server(kind: str, tree: Path, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    if kind == "daphne":
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"]
    else:
        command = ["bin/serve"]
        env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_WORKERS": str(workers), "PY": sys.executable}
    log = open(LOG_DIR / f"bench_push_{kind}.log", "w")  # noqa: SIM115 — the server's, closed with it
    return subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)


def run(label: str, kind: str, tree: Path, args: argparse.Namespace, env: dict, tokens, ids, jwt) -> None:
    server = start_server(kind, tree, args.port, args.workers, env)
    try:
        wait_ready(args.port)
        time.sleep(1)
        result = asyncio.run(measure(args.port, process_tree(server.pid), args, tokens, ids, jwt))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    report(label, args, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000, help="pushes a second offered")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="bin/serve's WEB_WORKERS for the new design")
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--old", type=Path, help="a checkout of the previous design, run as one daphne process")
    parser.add_argument("--old-label", default="previous design")
    args = parser.parse_args()

    env = bench_env(args.database_url)
    tokens, ids, jwt = prepare(args.database_url, env, args.monitors)
    print(f"monitors={args.monitors} rate={args.rate:g}/s seconds={args.seconds:g} load average {os.getloadavg()}")
    if args.old:
        run(f"{args.old_label}: one daphne", "daphne", args.old, args, env, tokens, ids, jwt)
    run(f"this tree: bin/serve, WEB_WORKERS={args.workers}", "serve", BASE_DIR, args, env, tokens, ids, jwt)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
