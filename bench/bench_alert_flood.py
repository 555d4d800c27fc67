"""Alert flood benchmark (SPEC §18 flood control): N servers of one team go DOWN in one batch.

Each server has C webhook configs, config k of every server pointing at local receiver k (C
receivers, each a threaded HTTP server on 127.0.0.1), as today's per-server configs are: one
destination, many configs. One batch of N failed checks goes through
``services.engine.recording.record`` (the check engine's writer); then one sender loop
(``send_pending``, as ``start_scheduler`` runs it) works until every delivery row is concluded.

Reported per mode:
- statements of the batch's transaction (``record``: checks, changes, incidents, delivery rows);
- seconds from the batch's commit to the last delivery row concluded (sent, or carried by a
  sent group), of which ALERT_GROUP_HOLD_SECONDS is the hold;
- messages each receiver got (grouped: one per destination).

Modes, in the same run: ``grouped`` (the defaults: threshold 10, window 60 s, hold 5 s) and
``ungrouped`` (ALERT_GROUP_THRESHOLD raised past N: the previous design, one message per row).

    python bench/bench_alert_flood.py                      # 1,000 servers x 10 configs
    python bench/bench_alert_flood.py --servers 100 --configs 3   # a quick run
    FLOOD_BENCH_MAX_SECONDS=420 python bench/bench_alert_flood.py  # stop sending after 420 s (then unsent > 0)

Needs PostgreSQL (database pg_flood_bench, created and migrated if missing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/pg_flood_bench"


def prepare(database_url: str) -> None:
    import psycopg

    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DJANGO_SETTINGS_MODULE": "core.settings.development",
        "DATABASE_URL": database_url,
        "CHANNEL_LAYER_TYPE": "memory",
        "CHANNEL_LAYER_PREFIX": "flood_bench",
        "LOG_LEVEL": "warning",
        "DEBUG": "false",
        "MONITOR_ALLOW_PRIVATE_TARGETS": "true",
    }
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()


def run(mode: str, servers: int, configs: int) -> dict[str, object]:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from authentication.teams import personal_team
    from monitoring.choices import DeliveryStatus, PingStatus, Protocol, Status
    from monitoring.models import NotificationConfig, NotificationDelivery, Server, ServerStatus
    from monitoring.services.alerts.delivery import send_pending
    from monitoring.services.engine.recording import CheckResult, record
    from monitoring.services.engine.transitions import ProbeOutcome
    from tests.targets import LocalHTTPServer

    settings.ALERT_GROUP_THRESHOLD = 10 if mode == "grouped" else servers + 1
    User.objects.filter(username="flood-bench").delete()  # cascades to the team's servers and rows
    user = User.objects.create_user("flood-bench", "flood-bench@example.com", "flood-bench-password-1")
    team = personal_team(user)
    receivers = [LocalHTTPServer().__enter__() for _ in range(configs)]
    try:
        for receiver in receivers:
            receiver.set("/hook", 200)
        rows = Server.objects.bulk_create(
            Server(owner=user, team=team, name=f"node-{n:04d}", protocol=Protocol.HTTP, host="127.0.0.1", port=9)
            for n in range(servers)
        )
        ServerStatus.objects.bulk_create(ServerStatus(server=s, status=Status.UP) for s in rows)
        Server.objects.filter(pk__in=[s.pk for s in rows]).update(status=Status.UP)
        NotificationConfig.objects.bulk_create(
            NotificationConfig(server=s, notification_type="webhook", recipient=r.url("/hook"), secret="bench")
            for s in rows
            for r in receivers
        )
        failed = ProbeOutcome(PingStatus.FAILURE, response_time=1.0, status_code=500, error_message="HTTP 500")
        batch = [CheckResult(s, failed, timezone.now()) for s in Server.objects.filter(team=team)]
        with CaptureQueriesContext(connection) as captured:
            record(batch)
        committed = time.monotonic()
        statements = len(captured)
        waiting = NotificationDelivery.objects.filter(config__server__team=team).exclude(
            status__in=[DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED]
        )
        unsent = waiting.exclude(status=DeliveryStatus.GROUPED, delivered_at__isnull=False)
        deadline = committed + float(os.environ.get("FLOOD_BENCH_MAX_SECONDS", "1500"))
        while unsent.exists() and time.monotonic() < deadline:
            if not send_pending(limit=500):  # small steps, so FLOOD_BENCH_MAX_SECONDS can stop it
                time.sleep(0.2)
        done = time.monotonic() - committed
        total = NotificationDelivery.objects.filter(config__server__team=team).count()
        return {
            "mode": mode,
            "rows": total,
            "statements": statements,
            "seconds": round(done, 2),
            "hold": settings.ALERT_GROUP_HOLD_SECONDS if mode == "grouped" else 0,
            "left": unsent.count(),
            "messages": [len(r.requests) for r in receivers],
        }
    finally:
        for receiver in receivers:
            receiver.__exit__()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--configs", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--modes", default="grouped,ungrouped")
    args = parser.parse_args()
    prepare(args.database_url)
    for mode in args.modes.split(","):
        result = run(mode, args.servers, args.configs)
        print(
            f"mode={result['mode']} servers={args.servers} configs_per_server={args.configs} rows={result['rows']} "
            f"batch_statements={result['statements']} commit_to_last_delivery_s={result['seconds']} "
            f"(hold {result['hold']} s) unsent={result['left']} messages_per_receiver={result['messages']} "
            f"messages_per_second={sum(result['messages']) / max(result['seconds'] - result['hold'], 0.01):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
