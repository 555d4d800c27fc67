"""Config export at size: seconds to export N servers (each with a notification config) as YAML and
JSON over HTTP, as production serves it; with ``--import``, the YAML parsed back and imported as a dry run.

Makes a fresh SQLite database in a temporary directory (``migrate``), one user with ``--servers``
https servers (each with one e-mail config, in bulk), a status page and a maintenance window naming
all of them, then starts daphne (``core.asgi``, as the Dockerfile does) and times
``GET /api/config/export/?format=yaml|json`` with a JWT, from the request to the last byte.

With ``--old DIR`` (a checkout of the previous design, e.g. ``git archive COMMIT | tar -x -C DIR``)
it also starts that tree's daphne against the same database and exports from both in turns, so
both are measured in the same minutes of a shared machine, and prints the ratio.

    .venv/bin/python bench/config_export.py --servers 5000 --runs 3 --old /tmp/prev
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.development")
PASSWORD = "bench-password-1"


def seed(servers: int) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    from monitoring.models import MaintenanceWindow, NotificationConfig, Server, ServerStatus, StatusPage

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password=PASSWORD)
    rows = Server.objects.bulk_create(
        Server(
            owner=user,
            team=user.personal_team,
            name=f"web-{i:05d}",
            protocol="https",
            host=f"web{i}.example.com",
            tags=["prod"],
        )
        for i in range(servers)
    )
    ServerStatus.objects.bulk_create(ServerStatus(server=s) for s in rows)
    NotificationConfig.objects.create(
        team_id=rows[0].team_id, notification_type="email", recipient="ops@example.com"
    ).servers.set(rows)
    StatusPage.objects.create(owner=user, slug="bench", title="Bench").servers.set(rows)
    MaintenanceWindow.objects.create(
        owner=user, name="Once", starts_at="2026-12-24T10:00:00Z", ends_at="2026-12-24T12:00:00Z"
    ).servers.set(rows)
    connections.close_all()


@contextlib.contextmanager
def daphne(tree: Path, port: int):
    """daphne serving ``tree``'s code on 127.0.0.1:``port``, against this run's database."""
    env = dict(os.environ, LOG_LEVEL="warning", PYTHONPATH=str(tree))
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "core.asgi:application"],
        cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/api/health/", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daphne for {tree} did not answer on port {port}; is the port free?")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="exports of each format from each design")
    parser.add_argument("--port", type=int, default=8410, help="the new design's port; the old one's is the next")
    parser.add_argument("--old", type=Path, help="a checkout of the previous design, exported from in turns")
    parser.add_argument("--old-label", default="previous")
    parser.add_argument("--import", dest="import_too", action="store_true", help="then a dry-run import of the YAML")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    started = time.perf_counter()
    seed(args.servers)
    print(f"seeded {args.servers} servers in {time.perf_counter() - started:.1f} s")

    designs = [("this tree", ROOT, args.port)]
    if args.old:
        designs.append((args.old_label, args.old.resolve(), args.port + 1))
    times: dict[tuple[str, str], list[float]] = {}
    yaml_body = b""
    with contextlib.ExitStack() as stack:
        sessions = {}
        for label, tree, port in designs:
            base = stack.enter_context(daphne(tree, port))
            token = requests.post(
                f"{base}/api/auth/token/", json={"username": "bench", "password": PASSWORD}, timeout=30
            ).json()["access"]
            sessions[label] = (base, {"Authorization": f"Bearer {token}"})
        for n in range(args.runs):
            for fmt in ("yaml", "json"):
                for label, (base, headers) in sessions.items():
                    started = time.perf_counter()
                    response = requests.get(f"{base}/api/config/export/?format={fmt}", headers=headers, timeout=300)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, (response.status_code, response.text[:200])
                    times.setdefault((label, fmt), []).append(elapsed)
                    print(f"run {n + 1}: {label} {fmt} {elapsed:.2f} s ({len(response.content) / 1e6:.1f} MB)")
                    if label == designs[0][0] and fmt == "yaml":
                        yaml_body = response.content
    for (label, fmt), values in times.items():
        print(f"{label} {fmt}: median {statistics.median(values):.2f} s, max {max(values):.2f} s ({len(values)} runs)")
    if args.old:
        for fmt in ("yaml", "json"):
            new, old = (statistics.median(times[(label, fmt)]) for label, _, _ in designs)
            print(f"ratio {fmt} (median, this tree / {args.old_label}): {new / old:.2f}x")
    if args.import_too:
        dry_run_import(yaml_body)


def dry_run_import(yaml_body: bytes) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User

    from api.configuration import import_config
    from api.parsers import load_yaml

    started = time.perf_counter()
    parsed = load_yaml(yaml_body.decode())
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    counts = import_config(User.objects.get(username="bench"), parsed, dry_run=True)
    print(f"YAML parse {parse_seconds:.2f} s, import (dry run) {time.perf_counter() - started:.2f} s: {counts}")


if __name__ == "__main__":
    main()
