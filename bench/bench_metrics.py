"""Benchmark: GET /metrics over N servers (SPEC §14: cheap at 10,000 servers), as production serves it.

Seeds N servers with a status, a last response time and a certificate check each (half of
them), some counters and deliveries, then starts this tree's ``bin/serve`` (granian, one worker:
production's web server) with ``METRICS_TOKEN`` set and scrapes ``/metrics`` over HTTP with the
bearer token, one scrape at a time, and reports the time from request to the last byte. Nothing is cached
between scrapes: each one reads the database and writes the whole body.

With ``--old DIR`` (a checkout of the previous design, e.g. ``git archive COMMIT | tar -x -C
DIR``) it also starts that tree's daphne (how it was served) against the same database and scrapes both in turns,
so both are measured in the same minutes of a shared machine, and prints the ratio.

    .venv/bin/python bench/bench_metrics.py --servers 10000 --scrapes 20 --old /tmp/prev
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pg_NAME .venv/bin/python bench/bench_metrics.py --old /tmp/prev

On SQLite (the default) it uses bench/bench_metrics.sqlite3, recreated each run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'bench' / 'bench_metrics.sqlite3'}")
os.environ.setdefault("LOG_LEVEL", "warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--port", type=int, default=8400, help="the new design's port; the old one's is the next")
    parser.add_argument("--old", type=Path, help="a checkout of the previous design, scraped in turns")
    parser.add_argument("--old-label", default="previous")
    args = parser.parse_args()

    db_url = os.environ["DATABASE_URL"]
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).unlink(missing_ok=True)

    import django

    from core.env import settings_module

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from monitoring.choices import PingStatus, Status
    from monitoring.models import CertificateCheck, NotificationConfig, NotificationDelivery, Server, ServerStatus
    from monitoring.services.history import metrics

    call_command("migrate", verbosity=0)
    User.objects.filter(username="bench-metrics").delete()  # a reused PostgreSQL database starts empty
    owner = User.objects.create_user("bench-metrics")
    words = [Status.UP, Status.UP, Status.UP, Status.DOWN, Status.DEGRADED, Status.PAUSED]
    now = timezone.now()
    seeded = time.perf_counter()
    servers = Server.objects.bulk_create(
        [
            Server(
                owner=owner,
                team=owner.personal_team,
                name=f"bench-{n}",
                protocol="https",
                host=f"h{n}.example.com",
                status=words[n % 6],
            )
            for n in range(args.servers)
        ],
        batch_size=1000,
    )
    ServerStatus.objects.bulk_create(
        [ServerStatus(server=s, status=s.status, last_response_time=10.0 + i % 500) for i, s in enumerate(servers)],
        batch_size=1000,
    )
    CertificateCheck.objects.bulk_create(
        [CertificateCheck(server=s, checked_at=now, days_remaining=i % 90) for i, s in enumerate(servers) if i % 2],
        batch_size=1000,
    )
    configs = NotificationConfig.objects.bulk_create(
        [
            NotificationConfig(team_id=s.team_id, notification_type="email", recipient="ops@example.com")
            for s in servers[:1000]
        ]
    )
    NotificationDelivery.objects.bulk_create([NotificationDelivery(config=c, event="down") for c in configs])
    for _ in range(50):
        metrics.count_checks([PingStatus.SUCCESS] * 20 + [PingStatus.FAILURE], [0.2] * 21)
    print(f"database={connection.vendor} servers={args.servers} seeded in {time.perf_counter() - seeded:.1f}s")

    from django.db import connections

    connections.close_all()
    designs = [("this tree", ROOT, args.port)]
    if args.old:
        designs.append((args.old_label, args.old.resolve(), args.port + 1))
    times: dict[str, list[float]] = {label: [] for label, _, _ in designs}
    with contextlib.ExitStack() as stack:
        bases = {label: stack.enter_context(web_server(tree, port)) for label, tree, port in designs}
        bodies = {}
        for label, base in bases.items():  # one warm-up scrape each: imports, first connection
            bodies[label] = scrape(base).content
        if args.old and bodies[designs[0][0]] != bodies[args.old_label]:
            print("note: the two designs' bodies differ (counters can move between scrapes)")
        for n in range(args.scrapes):
            for label, base in bases.items():
                started = time.perf_counter()
                scrape(base)
                times[label].append(time.perf_counter() - started)
            print(f"scrape {n + 1}: " + ", ".join(f"{label} {times[label][-1] * 1000:.0f} ms" for label in times))
    size = len(bodies[designs[0][0]])
    lines = bodies[designs[0][0]].count(b"\n")
    print(f"body {size / 1024:.0f} KiB, {lines} lines")
    for label, values in times.items():
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(
            f"{label}: median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {values[-1] * 1000:.0f} ms ({len(values)} scrapes)"
        )
    if args.old:
        ratio = statistics.median(times[designs[0][0]]) / statistics.median(times[args.old_label])
        print(f"ratio (median, this tree / {args.old_label}): {ratio:.2f}x")


TOKEN = "bench-token"


def scrape(base: str) -> requests.Response:
    response = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 200, (response.status_code, response.text[:200])
    return response


@contextlib.contextmanager
def web_server(tree: Path, port: int):
    """``tree``'s production web server on 127.0.0.1:``port``, against this run's database:
    ``bin/serve`` with one worker where the tree has it, else daphne (the design before it)."""
    env = dict(os.environ, METRICS_TOKEN=TOKEN, LOG_LEVEL="warning", PYTHONPATH=str(tree))
    if (tree / "bin" / "serve").exists():
        env.update(HOST="127.0.0.1", PORT=str(port), WEB_WORKERS="1", PY=sys.executable)
        command = ["bin/serve"]
    else:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"]
    proc = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/api/health/", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the web server of {tree} did not answer on port {port}; is the port free?")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
