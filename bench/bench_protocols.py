"""Benchmark: CPU per check of each kind of SPEC §19 against HTTP, in one run, through the real
scheduler. Talks only to 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_protocols_bench \\
        .venv/bin/python bench/bench_protocols.py --servers 1000 --interval 20 --seconds 40

1. A fleet process serves every kind on loopback: HTTP and WebSocket (aiohttp: ``/ok/<n>``,
   ``/ws/<n>`` echoing each message), a TCP line server (``PING`` → ``+PONG``), a UDP DNS server
   (every A question → 127.0.0.1), a small SMTP responder (banner, EHLO, QUIT; no STARTTLS) and
   grpcio's health service (SERVING). ``ping`` goes to 127.0.0.1, which the kernel answers;
   ``postgres``, ``mysql`` and ``redis`` to the PostgreSQL, MariaDB and Redis this machine runs
   (``SELECT 1``, ``PING``; each check opens and closes its own connection).
2. For each kind in turn: a fresh database, ``--servers`` servers of that kind at
   ``--interval`` seconds with their first checks spread over one interval, then one
   ``start_scheduler`` process for one interval of warm-up plus ``--seconds``.
3. From the results stored in the measured window: checks delivered of those asked, how many
   succeeded, and the scheduler's CPU per check (/proc utime + stime over the window) and its
   resident memory at the end.

``--profile DIR`` runs each scheduler's check engine (its thread) under cProfile
(``DIR/<kind>.prof``), to see where a kind's time goes; its CPU figures are then the profiler's
too, so compare kinds only without it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable

from bench.engine_e2e import env_for, proc_cpu, proc_rss_mb, reset_database  # noqa: E402

KINDS = ("http", "tcp", "ping", "dns", "smtp", "websocket", "postgres", "mysql", "redis", "grpc")


def fleet(ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import asyncio

    import dns.message
    import dns.rrset
    import grpc
    from aiohttp import WSMsgType, web
    from grpc_health.v1 import health, health_pb2_grpc

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for message in sock:
            if message.type == WSMsgType.TEXT:
                await sock.send_str(f"echo: {message.data}")
        return sock

    async def line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await reader.read(4096)
            writer.write(b"+PONG\r\n" if data.startswith(b"PING") else b"-ERR\r\n")
            await writer.drain()
            await reader.read(1)
        except OSError:
            pass
        finally:
            writer.close()

    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 bench ESMTP\r\n")
            while command := (await reader.readline()).upper():
                if command.startswith((b"EHLO", b"HELO")):
                    writer.write(b"250-bench\r\n250 SIZE 1000000\r\n")
                elif command.startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 no\r\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    class Dns(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.1"))
            self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        app = web.Application()
        app.add_routes([web.get("/ok/{n}", ok), web.get("/ws/{n}", ws)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        line_server = await asyncio.start_server(line, "127.0.0.1", 0, backlog=2048)
        smtp_server = await asyncio.start_server(smtp, "127.0.0.1", 0, backlog=2048)
        transport, _ = await loop.create_datagram_endpoint(Dns, local_addr=("127.0.0.1", 0))
        # gRPC's own health service, SERVING (grpcio's asyncio server on this loop).
        grpc_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), grpc_server)
        grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
        await grpc_server.start()
        ready.put(
            {
                "grpc": grpc_port,
                "http": http_port,
                "tcp": line_server.sockets[0].getsockname()[1],
                "smtp": smtp_server.sockets[0].getsockname()[1],
                "dns": transport.get_extra_info("sockname")[1],
            }
        )
        await asyncio.Event().wait()

    asyncio.run(main())


SETUP = """
import sys, datetime, json
import django
django.setup()
from django.contrib.auth.models import User
from django.utils import timezone
from monitoring.models import Server, ServerStatus
kind, n, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ports = json.loads(sys.argv[4])
user = User.objects.create_user("bench")
start = timezone.now() + datetime.timedelta(seconds=5)
servers = []
for i in range(n):
    fields = {
        "http": dict(protocol="http", host="127.0.0.1", port=ports["http"], path=f"/ok/{i}"),
        "tcp": dict(protocol="tcp", host="127.0.0.1", port=ports["tcp"], tcp_send="PING\\\\r\\\\n", tcp_expect="+PONG"),
        "ping": dict(protocol="ping", host="127.0.0.1"),
        "dns": dict(protocol="dns", host=f"s{i}.bench.test", dns_resolver=f"127.0.0.1:{ports['dns']}",
                    dns_expected=["127.0.0.1"]),
        "smtp": dict(protocol="smtp", host="127.0.0.1", port=ports["smtp"]),
        "websocket": dict(protocol="websocket", host="127.0.0.1", port=ports["http"], path=f"/ws/{i}",
                          ws_send="hello", keyword="echo: hello"),
        # The databases this machine runs (PostgreSQL, MariaDB, Redis), each asked SELECT 1 or PING.
        "postgres": dict(protocol="postgres", host="127.0.0.1", port=5432, dsn="postgresql://postgres@127.0.0.1:5432/postgres"),
        "mysql": dict(protocol="mysql", host="127.0.0.1", port=3306, dsn="mysql://root@127.0.0.1:3306/mysql"),
        "redis": dict(protocol="redis", host="127.0.0.1", port=6379, dsn="redis://127.0.0.1:6379/15"),
        "grpc": dict(protocol="grpc", host="127.0.0.1", port=ports["grpc"]),
    }[kind]
    offset = ((i * 0.6180339887498949) % 1.0) * interval
    servers.append(Server(owner=user, team=user.personal_team, name=f"s{i}", check_interval=interval, timeout=5,
                          retries=2, next_check_at=start + datetime.timedelta(seconds=offset), **fields))
created = Server.objects.bulk_create(servers, batch_size=1000)
ServerStatus.objects.bulk_create([ServerStatus(server=s, status="unknown") for s in created], batch_size=1000)
print(start.timestamp())
"""

COLLECT = """
import sys, json
import django
django.setup()
from collections import Counter
from monitoring.models import PingResult
since, until = float(sys.argv[1]), float(sys.argv[2])
import datetime
window = PingResult.objects.filter(
    check_timestamp__gte=datetime.datetime.fromtimestamp(since, datetime.UTC),
    check_timestamp__lt=datetime.datetime.fromtimestamp(until, datetime.UTC),
)
statuses = Counter(window.values_list("status", flat=True))
errors = Counter(window.exclude(status="success").values_list("error_message", flat=True)).most_common(2)
json.dump({"statuses": statuses, "errors": errors}, sys.stdout)
"""

# start_scheduler with its check engine (the "check-engine" thread's event loop) under cProfile.
PROFILED = """
import cProfile, os, sys
from core.env import settings_module
os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
import django
django.setup()
from django.core.management import execute_from_command_line
from monitoring.tasks import scheduler
out, engine_loop = sys.argv[1], scheduler.run_forever
def profiled(*args):
    profile = cProfile.Profile()
    try:
        profile.runcall(engine_loop, *args)
    finally:
        profile.dump_stats(out)
scheduler.run_forever = profiled
execute_from_command_line(["manage.py", *sys.argv[2:]])
"""


def run_kind(kind: str, db_url: str, args: argparse.Namespace, ports: dict[str, int]) -> dict[str, object]:
    env = env_for(db_url)
    reset_database(db_url)
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    setup_env = dict(env, DJANGO_SETTINGS_MODULE="core.settings.development")
    subprocess.run(
        [PY, "-c", SETUP, kind, str(args.servers), str(args.interval), json.dumps(ports)],
        cwd=ROOT,
        env=setup_env,
        check=True,
        capture_output=True,
        text=True,
    )
    # With --profile, the check engine's thread runs under cProfile and writes <dir>/<kind>.prof as
    # SIGTERM stops it; its CPU figures then include the profiler's.
    launch = ["-c", PROFILED, str(Path(args.profile).resolve() / f"{kind}.prof")] if args.profile else ["manage.py"]
    proc = subprocess.Popen(
        [PY, *launch, "start_scheduler", "--concurrency", str(args.concurrency)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(5 + args.interval + 5)
    start, cpu0 = time.time(), proc_cpu(proc.pid)
    time.sleep(args.seconds)
    end, cpu1 = time.time(), proc_cpu(proc.pid)
    rss = proc_rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    collected = subprocess.run(
        [PY, "-c", COLLECT, str(start), str(end)], cwd=ROOT, env=setup_env, check=True, capture_output=True, text=True
    )
    data = json.loads(collected.stdout)
    delivered = sum(data["statuses"].values())
    asked = args.servers * (end - start) / args.interval
    return {
        "kind": kind,
        "servers": args.servers,
        "interval": args.interval,
        "window_s": round(end - start, 1),
        "asked": round(asked),
        "delivered": delivered,
        "delivered_pct": round(100 * delivered / asked, 1) if asked else 0,
        "success": data["statuses"].get("success", 0),
        "cpu_ms_per_check": round(1000 * (cpu1 - cpu0) / delivered, 3) if delivered else None,
        "rss_mb": round(rss),
        "top_errors": data["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=40, help="The measured window, after one interval of warm-up.")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--profile", default="", help="A directory: profile each kind's scheduler (cProfile).")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / 'protocols.sqlite3'}")
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    target = multiprocessing.Process(target=fleet, args=(ready,), daemon=True)
    target.start()
    ports = ready.get(timeout=60)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores (shared); fleet {ports}", flush=True)
    try:
        for kind in args.kinds.split(","):
            result = run_kind(kind, base, args, ports)
            print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
