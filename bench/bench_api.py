"""The API at size: p50/p95 of five GET endpoints at a fixed request rate through daphne.

Run ``bench/seed_history.py`` first. This starts one daphne process (``core.asgi``) on
``--port`` against DATABASE_URL (``--processes N``: N of them on ``--port`` and the ports after
it, the requests spread round robin over them as a balancer would), logs in as the seeded
user, and for each endpoint sends ``--rate`` requests a second for ``--seconds`` seconds, open
loop (each request leaves at its scheduled time whether or not the earlier ones have
answered, so a slow server shows up as latency instead of a lower rate). Latency is from the
scheduled send time to the end of the response body. The per-server endpoints pick a random
server among the ones with 90 days of history.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_i8_bench \\
      .venv/bin/python bench/bench_api.py --port 8108 --rate 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.development")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def prepare(history_servers: int) -> tuple[str, list[int], int]:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from rest_framework_simplejwt.tokens import AccessToken

    from bench.seed_history import USERNAME
    from monitoring.models import PingResult, Server

    owner = User.objects.get(username=USERNAME)
    ids = list(Server.objects.filter(owner=owner).order_by("id").values_list("id", flat=True)[:history_servers])
    return str(AccessToken.for_user(owner)), ids, PingResult.objects.count()


async def drive(
    client: httpx.AsyncClient, paths: list[str], rate: float, seconds: float, bases: tuple[str, ...] = ("",)
) -> tuple[list[float], int, int]:
    """Send ``rate`` requests a second from ``paths`` (round robin, and over ``bases``, the daphne
    processes' addresses); latencies in ms of the answers, errors, and how many of the errors
    were a 503 (a worker past WEB_MAX_INFLIGHT, core.overload)."""
    latencies: list[float] = []
    errors = busy = 0
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2

    async def one(n: int) -> None:
        nonlocal errors, busy
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        try:
            response = await client.get(bases[n % len(bases)] + paths[n % len(paths)])
            if response.status_code != 200:
                errors += 1
                busy += response.status_code == 503
        except httpx.HTTPError:
            errors += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(one(n) for n in range(total)))
    return latencies, errors, busy


def endpoints_for(ids: list[int]) -> dict[str, list[str]]:
    rng = random.Random(8)
    picks = [rng.choice(ids) for _ in range(200)]
    return {
        "GET /api/servers/ (a page of 50)": ["/api/servers/"],
        "GET /api/ping-results/?server=X (a page)": [f"/api/ping-results/?server={i}" for i in picks],
        "GET /api/server-status/ (a page of 50)": ["/api/server-status/"],
        "GET /api/servers/{id}/uptime/?window=90d": [f"/api/servers/{i}/uptime/?window=90d" for i in picks],
        "GET /api/servers/{id}/history/?window=30d": [f"/api/servers/{i}/history/?window=30d" for i in picks],
        "GET /api/servers/{id}/history/?window=24h": [f"/api/servers/{i}/history/?window=24h" for i in picks],
        "GET /api/servers/{id}/history/?window=90d": [f"/api/servers/{i}/history/?window=90d" for i in picks],
        # Issue 20's goal: the four kinds in turn, at one rate.
        "GET mix: servers, server-status, uptime 90d, history 30d": [
            path
            for i in picks
            for path in (
                "/api/servers/",
                "/api/server-status/",
                f"/api/servers/{i}/uptime/?window=90d",
                f"/api/servers/{i}/history/?window=30d",
            )
        ],
    }


def serial(token: str, ids: list[int], count: int) -> None:
    """The same requests one at a time through Django's test client: the cost of the view
    itself (database included), without daphne, the network or queueing."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    print("| endpoint (serial, in process) | requests | p50 ms | p95 ms | max ms |\n| --- | --- | --- | --- | --- |")
    for name, paths in endpoints_for(ids).items():
        latencies = []
        for n in range(count + 5):
            began = time.perf_counter()
            response = client.get(paths[n % len(paths)], HTTP_HOST="127.0.0.1")
            assert response.status_code == 200, (name, response.status_code)
            latencies.append((time.perf_counter() - began) * 1000)
        latencies = latencies[5:]  # the first few warm caches up
        print(
            f"| {name} | {count} | {statistics.median(latencies):.1f} | {percentile(latencies, 0.95):.1f} | "
            f"{max(latencies):.1f} |"
        )


async def main_async(args: argparse.Namespace, token: str, ids: list[int], server: int | None = None) -> None:
    """Drive every endpoint chosen; with ``server`` (a pid), also the CPU its process tree spent
    per request answered (on a shared machine, less noisy than latency)."""
    from bench.live_latency import cpu_seconds, tree

    def cpu() -> float:
        return sum(cpu_seconds(pid) for pid in tree(server)) if server else 0.0

    endpoints = endpoints_for(ids)
    bases = tuple(f"http://127.0.0.1:{args.port + n}" for n in range(args.processes))
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        for paths in endpoints.values():  # warm up connections and caches, not measured
            await drive(client, paths, rate=20, seconds=1, bases=bases)
        print(
            "| endpoint | requests | p50 ms | p95 ms | max ms | errors (of which 503) | server CPU ms/request |\n"
            "| --- | --- | --- | --- | --- | --- | --- |"
        )
        for name, paths in endpoints.items():
            if not any(part in name for part in args.only.split(",")):
                continue
            spent = cpu()
            latencies, errors, busy = await drive(client, paths, args.rate, args.seconds, bases)
            spent = (cpu() - spent) * 1000 / max(1, len(latencies))
            print(
                f"| {name} | {len(latencies)} | {statistics.median(latencies):.1f} | "
                f"{percentile(latencies, 0.95):.1f} | {max(latencies):.1f} | {errors} ({busy}) | "
                f"{f'{spent:.1f}' if server else '–'} |",
                flush=True,
            )


#: The servers ``--against`` compares, one command each (``{port}``, ``{workers}``): one daphne
#: (the previous design), bin/serve (production), and the candidates bin/serve chose among.
SERVERS = {
    "daphne": [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "core.asgi:application"],
    "serve": ["bin/serve"],
    "uvicorn": [
        *(sys.executable, "-m", "uvicorn", "core.asgi:application", "--host", "127.0.0.1", "--port", "{port}"),
        *("--workers", "{workers}", "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log"),
    ],
    "gunicorn": [
        *(sys.executable, "-m", "gunicorn", "core.asgi:application", "-k", "uvicorn.workers.UvicornWorker"),
        *("-w", "{workers}", "-b", "127.0.0.1:{port}"),
    ],
    "granian": [
        *(sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1", "--port", "{port}"),
        *("--workers", "{workers}", "--loop", "uvloop", "--no-access-log", "core.asgi:application"),
    ],
}


def against(name: str, args: argparse.Namespace, env: dict[str, str], token: str, ids: list[int]) -> None:
    """Start one of SERVERS on ``--port``, wait for its health check, drive it, stop it.

    ``name@checkout`` runs that server from another checkout of the product (a git worktree of
    the previous design), so both designs are measured in one run."""
    server_name, _, checkout = name.partition("@")
    root = Path(checkout).resolve() if checkout else ROOT
    command = [part.format(port=args.port, workers=args.workers) for part in SERVERS[server_name]]
    env = {**env, "HOST": "127.0.0.1", "PORT": str(args.port), "WEB_WORKERS": str(args.workers), "PY": sys.executable}
    env["PYTHONPATH"] = str(root)
    log = open(f"/tmp/bench_api_{server_name}_{root.name}.log", "w")  # noqa: SIM115 — open while the server runs
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{args.port}/api/health/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"{name} did not start: see {log.name}")
                time.sleep(0.3)
        workers = 1 if server_name == "daphne" else args.workers
        print(f"\n{name} ({workers} process(es)): {args.rate:g} requests/s for {args.seconds:g} s each", flush=True)
        asyncio.run(main_async(args, token, ids, server.pid))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8108)
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint")
    parser.add_argument("--history-servers", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1, help="daphne processes, on --port and the next ports")
    parser.add_argument("--daphne-log", default="/tmp/bench_api_daphne.log", help="the first one's; then .1, .2 …")
    parser.add_argument(
        "--against",
        default="",
        help=f"instead of daphne: these servers one after the other, comma-separated, from {', '.join(SERVERS)}; "
        "NAME@PATH runs it from the checkout at PATH (the previous design's worktree)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the --against servers")
    parser.add_argument("--only", default="", help="only endpoints whose name contains one of these (comma-separated)")
    parser.add_argument("--serial", type=int, default=0, help="instead: N requests each, one at a time, in process")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    token, ids, results = prepare(args.history_servers)
    if args.serial:
        print(f"{len(ids)} history servers, {results} results")
        serial(token, ids, args.serial)
        return
    env = {**os.environ, "DEBUG": "false", "PYTHONPATH": str(ROOT)}
    if args.against:
        for name in args.against.split(","):
            against(name, args, env, token, ids)
        return
    daphnes = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(args.port + n), "core.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(args.daphne_log + (f".{n}" if n else ""), "w"),  # noqa: SIM115 — open while daphne runs
        )
        for n in range(args.processes)
    ]
    try:
        deadline = time.monotonic() + 30
        for n, daphne in enumerate(daphnes):
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{args.port + n}/api/health/", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or daphne.poll() is not None:
                        sys.exit("daphne did not start")
                    time.sleep(0.2)
        print(
            f"{len(ids)} history servers, {results} results; {args.processes} daphne process(es); "
            f"{args.rate:g} requests/s for {args.seconds:g} s each"
        )
        asyncio.run(main_async(args, token, ids))
    finally:
        for daphne in daphnes:
            daphne.terminate()
        for daphne in daphnes:
            daphne.wait(timeout=10)


if __name__ == "__main__":
    main()
