"""Probe locations (SPEC §20) end to end: one central server and three probe agents checking
3,000 servers from three places, against the same 3,000 servers checked from one place by the
scheduler alone, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_i18e2e_bench CHANNEL_LAYER_TYPE=redis \\
        CHANNEL_LAYER_PREFIX=i18e2e .venv/bin/python bench/bench_locations.py --servers 3000 \\
        --interval 60 --seconds 120 --port 8660

1. A fleet process (aiohttp, bench/engine_e2e.py's) listens on loopback ports; server ``i`` is
   ``/ok/<i>`` on one of them.
2. "one place": a fresh database, N servers whose first checks are spread over one interval,
   one ``start_scheduler`` (the design before §20: the scheduler checks everything itself).
3. "three places": a fresh database, the same N servers each with three locations (made, with
   an agent token each, through the REST API of the central daphne process), one
   ``start_scheduler`` (it checks nothing here: it delivers alerts and watches the locations)
   and three ``manage.py run_agent`` processes with a DATABASE_URL that points nowhere.
4. After one interval (plus a margin) of warm-up, a measured window: checks delivered of those
   asked per location, lateness (check start − due on each server's fixed grid) p50/p99 per
   location, CPU (/proc utime+stime over the window) per check of the agents, of the central
   web process that ingests their results and of the scheduler, and bytes per stored check
   (``pg_total_relation_size`` of the results table / its rows; with the agents' idempotency
   receipts counted apart).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_e2e import fleet, pct, proc_cpu, reset_database

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PASSWORD = "bench-passphrase-1"
PLACES = [("fra", "Frankfurt"), ("tyo", "Tokyo"), ("iad", "Virginia")]
#: An agent has no database: this one would refuse every connection.
NOWHERE = "postgres://nobody@127.0.0.1:9/nowhere"

SETUP = """
import sys, datetime
import django
django.setup()
from django.contrib.auth.models import User
from django.utils import timezone
from monitoring.models import ProbeLocation, Server, ServerLocation, ServerStatus
n, interval = int(sys.argv[1]), int(sys.argv[2])
ports = [int(p) for p in sys.argv[3].split(",")]
slugs = [s for s in sys.argv[4].split(",") if s]
user = User.objects.filter(username="bench").first() or User.objects.create_user("bench", password=sys.argv[5])
places = [ProbeLocation.objects.get(slug=slug) for slug in slugs]
start = timezone.now() + datetime.timedelta(seconds=int(sys.argv[6]))
servers = []
for i in range(n):
    offset = ((i * 0.6180339887498949) % 1.0) * interval
    servers.append(Server(owner=user, team=user.personal_team, name=f"s{i}", protocol="http", host="127.0.0.1",
                          port=ports[i % len(ports)], path=f"/ok/{i}", check_interval=interval, timeout=5,
                          retries=2, quorum=2 if places else None,
                          next_check_at=start + datetime.timedelta(seconds=offset)))
created = Server.objects.bulk_create(servers, batch_size=1000)
ServerStatus.objects.bulk_create([ServerStatus(server=s, status="unknown") for s in created], batch_size=1000)
ServerLocation.objects.bulk_create(
    [ServerLocation(server=s, location=place, position=p, next_check_at=s.next_check_at)
     for s in created for p, place in enumerate(places)],
    batch_size=3000,
)
print(start.timestamp())
"""

COLLECT = """
import sys, json
import django
django.setup()
from django.db import connection
from monitoring.models import PingResult
out = {}
rows = PingResult.objects.values_list("server_id", "location__slug", "check_timestamp")
for sid, slug, ts in rows.iterator(chunk_size=5000):
    out.setdefault(slug or "local", {}).setdefault(sid, []).append(ts.timestamp())
with connection.cursor() as c:
    c.execute("SELECT pg_total_relation_size('monitoring_pingresult'), count(*) FROM monitoring_pingresult")
    size, rows = c.fetchone()
    c.execute("SELECT pg_total_relation_size('monitoring_agentreceipt'), count(*) FROM monitoring_agentreceipt")
    receipts, receipt_rows = c.fetchone()
json.dump({"pings": out, "size": size, "rows": rows, "receipts": receipts, "receipt_rows": receipt_rows}, sys.stdout)
"""


def env_for(db_url: str) -> dict[str, str]:
    # DEBUG off as in production: with DEBUG every query is kept in memory (connection.queries).
    env = dict(os.environ, DATABASE_URL=db_url, LOG_LEVEL="warning", ENVIRONMENT="development", DEBUG="false")
    env.update(MONITOR_ALLOW_PRIVATE_TARGETS="true", AUTH_THROTTLE_RATE="1000/minute")
    return env


def agent_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "CHANNEL"))}
    env.update(DATABASE_URL=NOWHERE, ENVIRONMENT="development", DEBUG="false", LOG_LEVEL="warning")
    env["MONITOR_ALLOW_PRIVATE_TARGETS"] = "true"
    return env


def wait_until(condition, what: str, timeout: float = 180.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what}: not within {timeout:g}s")


def make_places(base: str) -> dict[str, str]:
    """The three locations and a token for each, through the REST API as an operator would."""
    api = requests.Session()
    access = api.post(f"{base}/api/auth/token/", json={"username": "bench", "password": PASSWORD}, timeout=60)
    access.raise_for_status()
    api.headers["Authorization"] = f"Bearer {access.json()['access']}"
    tokens = {}
    for slug, name in PLACES:
        api.post(f"{base}/api/locations/", json={"name": name, "slug": slug}, timeout=60).raise_for_status()
        made = api.post(f"{base}/api/locations/{slug}/tokens/", json={"name": f"bench-{slug}"}, timeout=60)
        made.raise_for_status()
        tokens[slug] = made.json()["token"]
    return tokens


def run(label: str, db_url: str, args: argparse.Namespace, ports: list[int]) -> list[dict]:
    three = label == "three places"
    env = env_for(db_url)
    reset_database(db_url)
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    base = f"http://127.0.0.1:{args.port}"
    procs: dict[str, subprocess.Popen] = {}  # type: ignore[type-arg]

    logs = Path(tempfile.mkdtemp(prefix="bench-locations-"))

    def start(name: str, argv: list[str], environ: dict[str, str]) -> None:
        # Output to a file: a pipe nobody reads would fill and stop the process.
        with (logs / f"{name.replace(' ', '-')}.log").open("wb") as log:
            procs[name] = subprocess.Popen([PY, *argv], cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)

    try:
        slugs: list[str] = []
        warm = args.interval + 30
        setup_env = dict(env, DJANGO_SETTINGS_MODULE="core.settings.development")
        if three:
            start("daphne", ["-m", "daphne", "-b", "127.0.0.1", "-p", str(args.port), "core.asgi:application"], env)
            wait_until(lambda: requests.get(f"{base}/api/health/", timeout=10).status_code == 200, "daphne")
            # The servers' owner first (the locations are made by them, as theirs), then the places.
            subprocess.run(
                [PY, "manage.py", "shell", "-c", f"from django.contrib.auth.models import User; "
                 f"User.objects.create_user('bench', password='{PASSWORD}')"],
                cwd=ROOT, env=env, check=True, capture_output=True,
            )  # fmt: skip
            tokens = make_places(base)
            slugs = list(tokens)
        setup = subprocess.run(
            [PY, "-c", SETUP,
             str(args.servers), str(args.interval), ",".join(map(str, ports)), ",".join(slugs), PASSWORD, "20"],
            cwd=ROOT, env=setup_env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        first_due = float(setup.stdout.strip().splitlines()[-1])
        start("scheduler", ["manage.py", "start_scheduler", "--concurrency", str(args.concurrency)], env)
        if three:
            for slug in slugs:
                start(
                    f"agent {slug}",
                    ["manage.py", "run_agent", "--url", base, "--token", tokens[slug],
                     "--concurrency", str(args.concurrency)],
                    agent_env(),
                )  # fmt: skip
        time.sleep(max(0.0, first_due - time.time()) + warm)
        window_start = time.time()
        cpu0 = {name: proc_cpu(p.pid) for name, p in procs.items()}
        load0 = os.getloadavg()
        time.sleep(args.seconds)
        window_end = time.time()
        cpu = {name: proc_cpu(p.pid) - cpu0[name] for name, p in procs.items()}
        load1 = os.getloadavg()
        dead = [name for name, p in procs.items() if p.poll() is not None]
    except BaseException:
        print(f"logs in {logs}", flush=True)
        raise
    finally:
        # The agents first (they send what they hold), then the scheduler, then the web server.
        for p in reversed(procs.values()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    collected = subprocess.run([PY, "-c", COLLECT], cwd=ROOT, env=setup_env, check=True, capture_output=True, text=True)
    data = json.loads(collected.stdout)
    interval = args.interval
    asked_each = args.servers * (window_end - window_start) / interval
    results = []
    places = slugs or ["local"]
    for slug in places:
        pings = {int(k): sorted(v) for k, v in data["pings"].get(slug, {}).items()}
        lateness: list[float] = []
        duplicates = missed = 0
        for sid, times in pings.items():
            index = sid - min(pings)  # servers were made in order: id order is index order
            grid0 = first_due + ((index * 0.6180339887498949) % 1.0) * interval
            for t in times:
                if window_start <= t < window_end:
                    late = (t - grid0) % interval
                    lateness.append(late if late < interval / 2 else 0.0)
            for a, b in zip(times, times[1:], strict=False):
                if b < window_start or a > window_end:
                    continue
                if b - a < interval / 4:
                    duplicates += 1
                elif b - a > 1.5 * interval:
                    missed += round((b - a) / interval) - 1
        results.append(
            {
                "design": label,
                "location": slug,
                "window_s": round(window_end - window_start, 1),
                "asked": round(asked_each),
                "delivered": len(lateness),
                "delivered_pct": round(100 * len(lateness) / asked_each, 2),
                "lateness_p50": round(pct(lateness, 0.5), 3),
                "lateness_p99": round(pct(lateness, 0.99), 3),
                "duplicates": duplicates,
                "missed": missed,
            }
        )
    delivered = sum(r["delivered"] for r in results)
    agents = sum(v for k, v in cpu.items() if k.startswith("agent"))
    summary = {
        "design": label,
        "delivered_total": delivered,
        "cpu_ms_per_check_agents": round(1000 * agents / delivered, 3) if three and delivered else None,
        "cpu_ms_per_check_web": round(1000 * cpu["daphne"] / delivered, 3) if three and delivered else None,
        "cpu_ms_per_check_scheduler": round(1000 * cpu["scheduler"] / delivered, 3) if delivered else None,
        "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        "bytes_per_stored_check": round(data["size"] / data["rows"]) if data["rows"] else None,
        "receipt_bytes_per_check": round(data["receipts"] / data["rows"]) if three and data["rows"] else None,
        "load_avg_start_end": [round(load0[0], 1), round(load1[0], 1)],
        "dead": dead,
    }
    return [*results, summary]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=3000)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--seconds", type=int, default=120, help="The measured window, after warm-up.")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--port", type=int, default=8660, help="The central daphne's port.")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (bytes per check are PostgreSQL's).")
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    target = multiprocessing.Process(target=fleet, args=(min(args.ports, args.servers), ready), daemon=True)
    target.start()
    ports = ready.get(timeout=60)
    print(
        f"fleet on {len(ports)} ports; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores (shared); "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    try:
        for label, suffix in (("one place", "_one"), ("three places", "_three")):
            for result in run(label, base + suffix, args, ports):
                print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
