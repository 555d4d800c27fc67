"""Live-feed latency benchmark: commit of a check → receipt by WebSocket and SSE clients.

One daphne process (core.asgi, Redis channel layer, PostgreSQL; ``--web serve``: bin/serve
with ``--workers`` processes on one port, as production runs) serves N WebSocket clients
and M SSE clients, all subscribed to the same server(s). A separate checker process (like
``check_servers`` or the scheduler) checks those servers repeatedly; for every check it
stamps the moment its transaction committed (an on_commit hook registered before the check
engine's publishing one) and prints it. Each client timestamps every frame it receives and
parses them only after the run, so parsing does not inflate the numbers.

Reported per scenario: latency p50/p99/max from commit to receipt, messages lost (expected
minus received), daphne's resident memory before clients, with clients connected and at its
peak, the share of a core daphne and the clients used while checks ran, and how long the
checker's commit-to-published step took. Everything talks to 127.0.0.1 only.

    python bench/live_latency.py                       # 100 and 1000 WS + 100 SSE, 30 checks 1 s apart
    python bench/live_latency.py --ws 200 --sse 20 --checks 10   # a quick run
    python bench/live_latency.py --web daphne serve --workers 2 --ws 1000   # both designs, one run

The clients share one process and one core with the checker, Redis and PostgreSQL, so the
figures include reading 1,100 sockets in one Python process: an upper bound for real clients.

Needs PostgreSQL (database pg_live_bench, created and migrated if missing) and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/pg_live_bench"


def bench_env(database_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "core.settings.development",
        "DATABASE_URL": database_url,
        "CHANNEL_LAYER_TYPE": "redis",
        "CHANNEL_LAYER_PREFIX": prefix,
        "LOG_LEVEL": "warning",
        "DEBUG": "false",
    }


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (bin/serve → granian → its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid] + [p for child in children for p in tree(int(child))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------------------------
# The checker process: checks the servers in rounds and prints {"ping", "server", "committed"}.
# --------------------------------------------------------------------------------------------


async def probe_once(server: Any, client: Any) -> Any:
    """One probe on a loop of its own (the checker measures the publish, not the engine)."""
    from monitoring.services.engine.probes import probe_async

    try:
        return await probe_async(server, client)
    finally:
        await client.close()


def run_checker(server_ids: list[int], checks: int, interval: float) -> None:
    import django

    django.setup()
    from django.db import transaction

    from monitoring.models import Server
    from monitoring.services.aionet import Client
    from monitoring.services.engine.checks import record_outcome
    from tests.targets import LocalHTTPServer

    with LocalHTTPServer() as target:
        target.set("/", 200, "ok")
        Server.objects.filter(pk__in=server_ids).update(port=target.port)
        servers = list(Server.objects.filter(pk__in=server_ids).order_by("pk"))
        next_round = time.monotonic()
        for round_no in range(checks + 1):  # round 0 warms up imports and connections, unmeasured
            for server in servers:
                outcome = asyncio.run(probe_once(server, Client()))
                stamp: dict[str, float] = {}
                with transaction.atomic():
                    # Registered first, so it runs at commit, just before the engine's publish.
                    transaction.on_commit(lambda stamp=stamp: stamp.__setitem__("t", time.time()))
                    record = record_outcome(server, outcome)
                published = time.time()  # on_commit callbacks, the publish included, have run
                line = {"ping": record.ping.pk, "server": server.pk, "committed": stamp["t"], "published": published}
                line["warmup"] = round_no == 0
                print(json.dumps(line), flush=True)
            next_round += interval
            time.sleep(max(0.0, next_round - time.monotonic()))


# --------------------------------------------------------------------------------------------
# The orchestrator: database, daphne, clients, checker, numbers.
# --------------------------------------------------------------------------------------------


def clear_prefix(redis_url: str, prefix: str) -> None:
    """Drop this benchmark's own channel-layer keys (groups left by earlier, killed daphnes)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    finally:
        client.close()


def prepare_database(database_url: str, env: dict[str, str], servers: int) -> tuple[list[int], str]:
    """Create and migrate the bench database if needed; (re)create the bench user and servers."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)

    import django

    django.setup()
    from django.contrib.auth.models import User
    from rest_framework_simplejwt.tokens import AccessToken

    from monitoring.models import Server

    User.objects.filter(username="bench").delete()  # cascades to servers and their history
    user = User.objects.create_user("bench", "bench@example.com", "bench-password-1")
    ids = [
        Server.objects.create(
            owner=user, name=f"bench-{i}", protocol="http", host="127.0.0.1", port=9, timeout=2, check_interval=60
        ).pk
        for i in range(servers)
    ]
    return ids, str(AccessToken.for_user(user))


@dataclass
class Client:
    kind: str  # "ws" or "sse"
    server_id: int
    frames: list[tuple[float, str]] = field(default_factory=list)

    def received(self) -> dict[int, float]:
        """ping id → receipt time, parsed after the run."""
        got: dict[int, float] = {}
        if self.kind == "ws":
            for t, text in self.frames:
                frame = json.loads(text)
                if frame.get("type") == "update":
                    got.setdefault(frame["ping"]["id"], t)
            return got
        buffer = ""
        for t, text in self.frames:
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
                if lines.get("event") == "ping" and lines.get("id") and not lines.get("data", "").startswith("[]"):
                    for ping in json.loads(lines["data"]):
                        got.setdefault(ping["id"], t)
        return got


async def run_ws(port: int, token: str, client: Client, ready: asyncio.Event) -> None:
    import websockets

    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/status/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=60,
        ping_interval=None,
        max_queue=None,
    ) as ws:
        await ws.send(json.dumps({"action": "subscribe", "server_ids": [client.server_id]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        ready.set()
        async for text in ws:  # until the task is cancelled at the end of the scenario
            client.frames.append((time.time(), text))


async def run_sse(port: int, token: str, client: Client, ready: asyncio.Event) -> None:
    # HTTP/1.0: the body is the raw event stream, delimited by the connection (no chunking).
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/events/status/?server_id={client.server_id}&limit=0 HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    assert b" 200 " in head.split(b"\r\n", 1)[0], head
    snapshot = ""
    while snapshot.count("\n\n") < 3:  # retry, status, ping
        snapshot += (await asyncio.wait_for(reader.read(65536), 60)).decode()
    ready.set()
    try:
        while chunk := await reader.read(65536):  # until cancelled at the end of the scenario
            client.frames.append((time.time(), chunk.decode()))
    finally:
        writer.close()


async def scenario(
    args: argparse.Namespace, env: dict[str, str], ids: list[int], token: str, n_ws: int, web: str
) -> dict[str, Any]:
    from tests.targets import free_port

    port = free_port()
    if web == "serve":
        command = [str(BASE_DIR / "bin" / "serve")]
        env = {**env, "PY": sys.executable, "PORT": str(port), "WEB_WORKERS": str(args.workers)}
    else:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"]
    daphne = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rss() -> float:
        return sum(rss_mb(pid) for pid in tree(daphne.pid))

    def cpu() -> float:
        return sum(cpu_seconds(pid) for pid in tree(daphne.pid))

    try:
        for _ in range(300):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5 if web == "daphne" else 5)  # granian's workers start after it listens
        rss_idle = rss()

        clients = [Client("ws", ids[i % len(ids)]) for i in range(n_ws)]
        clients += [Client("sse", ids[i % len(ids)]) for i in range(args.sse)]
        tasks: list[asyncio.Task[None]] = []
        started = time.monotonic()
        for batch in range(0, len(clients), 50):  # daphne's listen backlog is 50
            readies = []
            for client in clients[batch : batch + 50]:
                ready = asyncio.Event()
                runner = run_ws if client.kind == "ws" else run_sse
                tasks.append(asyncio.create_task(runner(port, token, client, ready)))
                readies.append(ready)
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(1.0)
        rss_connected = rss()

        checker = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--checker",
            "--server-ids",
            ",".join(map(str, ids)),
            "--checks",
            str(args.checks),
            "--interval",
            str(args.interval),
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
        )
        commits: dict[int, tuple[int, float]] = {}
        publish_ms: list[float] = []
        peak = rss_connected

        async def sample() -> None:
            nonlocal peak
            while checker.returncode is None:
                peak = max(peak, rss())
                await asyncio.sleep(0.25)

        cpu_daphne, cpu_clients, wall = cpu(), time.process_time(), time.monotonic()
        sampler = asyncio.create_task(sample())
        assert checker.stdout is not None
        async for line in checker.stdout:
            record = json.loads(line)
            if record["warmup"]:
                continue
            commits[record["ping"]] = (record["server"], record["committed"])
            publish_ms.append((record["published"] - record["committed"]) * 1000)
        await asyncio.wait_for(checker.wait(), 60)
        await sampler
        cpu_daphne = cpu() - cpu_daphne
        cpu_clients, wall = time.process_time() - cpu_clients, time.monotonic() - wall

        # Stragglers: wait until every client has every check of its server, for at most 5 s.
        expected = {sid: {p for p, (s, _) in commits.items() if s == sid} for sid in ids}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(expected[c.server_id] <= set(c.received()) for c in clients[:: max(1, len(clients) // 20)]):
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)

        result: dict[str, Any] = {
            "web": web if web == "daphne" else f"bin/serve ×{args.workers}",
            "ws_clients": n_ws,
            "sse_clients": args.sse,
            "servers": len(ids),
            "checks": len(commits),
            "connect_seconds": round(connect_seconds, 1),
            "rss_idle_mb": round(rss_idle, 1),
            "rss_connected_mb": round(rss_connected, 1),
            "rss_peak_mb": round(peak, 1),
            "daphne_cpu_share": round(cpu_daphne / wall, 2),
            "clients_cpu_share": round(cpu_clients / wall, 2),
            "publish_p50_ms": round(statistics.median(publish_ms), 1),
            "publish_max_ms": round(max(publish_ms), 1),
        }
        for kind in ("ws", "sse"):
            latencies, lost = [], 0
            for client in (c for c in clients if c.kind == kind):
                got = client.received()
                for ping_id in expected[client.server_id]:
                    if ping_id in got:
                        latencies.append((got[ping_id] - commits[ping_id][1]) * 1000)
                    else:
                        lost += 1
            result[kind] = {
                "messages": len(latencies),
                "lost": lost,
                "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
                "max_ms": round(max(latencies), 1) if latencies else None,
            }
        return result
    finally:
        daphne.terminate()
        try:
            daphne.wait(25)  # bin/serve stops its workers within 20 s
        except subprocess.TimeoutExpired:
            daphne.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ws", type=int, nargs="+", default=[100, 1000], help="WebSocket clients per scenario")
    parser.add_argument("--sse", type=int, default=100, help="SSE clients in every scenario")
    parser.add_argument("--servers", type=int, default=1, help="servers checked (clients spread over them)")
    parser.add_argument("--checks", type=int, default=30, help="check rounds per scenario")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between check rounds")
    parser.add_argument("--web", nargs="+", choices=["daphne", "serve"], default=["daphne"], help="web servers")
    parser.add_argument("--workers", type=int, default=2, help="bin/serve's WEB_WORKERS")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--prefix", default="pg_live_bench", help="Redis key prefix of the channel layer")
    parser.add_argument("--checker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server-ids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.checker:
        run_checker([int(i) for i in args.server_ids.split(",")], args.checks, args.interval)
        return

    env = bench_env(args.database_url, args.prefix)
    os.environ.update(env)  # this process sets up Django too (users, servers, token)
    ids, token = prepare_database(args.database_url, env, args.servers)
    from django.conf import settings

    clear_prefix(settings.REDIS_URL, args.prefix)
    results = [asyncio.run(scenario(args, env, ids, token, n, web)) for n in args.ws for web in args.web]

    print(json.dumps(results, indent=2))
    print()
    print(
        "| web | WS | SSE | checks | kind | messages | p50 ms | p99 ms | max ms | lost | web RSS idle/conn/peak | CPU |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        for kind in ("ws", "sse"):
            k = r[kind]
            print(
                f"| {r['web']} | {r['ws_clients']} | {r['sse_clients']} | {r['checks']} | {kind} | {k['messages']} | "
                f"{k['p50_ms']} | {k['p99_ms']} | {k['max_ms']} | {k['lost']} | "
                f"{r['rss_idle_mb']} / {r['rss_connected_mb']} / {r['rss_peak_mb']} MB | {r['daphne_cpu_share']} |"
            )


if __name__ == "__main__":
    main()
