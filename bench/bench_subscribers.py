"""Status page subscribers at scale (SPEC §21): one update to a page's 10,000 e-mail subscribers.

A page with S servers and N confirmed e-mail subscribers receives one update. Measured:

1. queue: ``notify_subscribers()`` (one row, what a post's hook costs) and the fan-out to N
   delivery rows (one INSERT … SELECT);
2. deliver: ``send_subscriber_messages()`` until every row is sent, to a local SMTP server
   (aiosmtpd, ``tests/smtp.py``, in this process: it shares the GIL and the 2 cores);
3. while that runs, a server goes DOWN: its e-mail alert is queued and the alerts' own lane
   (``send_pending()``, on its own thread, as the scheduler's "notifications" job runs it)
   must send it within its usual time, not after the 10,000.

    python bench/bench_subscribers.py                       # 50 servers, 10,000 subscribers
    python bench/bench_subscribers.py --subscribers 1000    # a quick run

Needs PostgreSQL (database pg_pagelook_bench, created and migrated if missing; emptied first).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/pg_pagelook_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()

    os.environ.update(
        ENVIRONMENT="development",
        DJANGO_SETTINGS_MODULE="core.settings.development",
        DATABASE_URL=args.database_url,
        LOG_LEVEL="warning",
        DEBUG="false",
    )
    ensure_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    from tests.smtp import LocalSMTPServer

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    with (
        LocalSMTPServer() as smtp,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=smtp.host,
            EMAIL_PORT=smtp.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
        ),
    ):
        run(args, smtp)


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def run(args: argparse.Namespace, smtp: object) -> None:
    from django.contrib.auth import get_user_model
    from django.db import close_old_connections
    from django.utils import timezone

    from monitoring.choices import DeliveryStatus, NotificationType, PageEvent, PingStatus
    from monitoring.models import (
        NotificationConfig,
        NotificationDelivery,
        Server,
        StatusPage,
        Subscriber,
        SubscriberDelivery,
    )
    from monitoring.services.alerts.delivery import send_pending
    from monitoring.services.engine.checks import record_outcome
    from monitoring.services.engine.probes import ProbeOutcome
    from monitoring.services.subscribers.events import notify_subscribers
    from monitoring.services.subscribers.sending import fan_out, send_subscriber_messages

    owner = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password-1")
    servers = [
        Server.objects.create(owner=owner, name=f"svc-{i:02d}", protocol="tcp", host="127.0.0.1", port=9)
        for i in range(args.servers)
    ]
    page = StatusPage.objects.create(owner=owner, slug="bench", title="Bench status", is_public=True)
    page.servers.set(servers)
    now = timezone.now()
    Subscriber.objects.bulk_create(
        [
            Subscriber(page=page, kind="email", target=f"fan{i}@example.com", confirmed_at=now)
            for i in range(args.subscribers)
        ],
        batch_size=2000,
    )
    alerted = servers[0]
    NotificationConfig.objects.create(
        server=alerted, notification_type=NotificationType.EMAIL, recipient="ops@example.com"
    )
    record_outcome(alerted, ProbeOutcome(PingStatus.SUCCESS, response_time=1.0, status_code=None))

    started = time.perf_counter()
    notify_subscribers(page, PageEvent.UPDATE, title="Checkout is slow", status="monitoring",
                       message="A fix is out; we are watching.", impact="minor", time=timezone.now())  # fmt: skip
    queued = time.perf_counter() - started
    fan_out()
    fanned = time.perf_counter() - started
    print(f"queue: notify_subscribers {queued * 1000:.1f} ms, fan-out to {args.subscribers} rows {fanned:.2f} s")

    sent = [0]

    def subscribers_lane() -> None:
        try:
            while True:
                n = send_subscriber_messages(budget_seconds=10.0)
                sent[0] += n
                if not n:
                    break
        finally:
            close_old_connections()

    alert: dict[str, float] = {}

    def alerts_lane() -> None:
        try:
            time.sleep(2.0)  # mid-way through the subscribers' e-mails
            record_outcome(alerted, ProbeOutcome(PingStatus.FAILURE, response_time=1.0, error_message="refused"))
            alert["queued"] = time.perf_counter()
            while not NotificationDelivery.objects.filter(status=DeliveryStatus.SENT).exists():
                send_pending(limit=100)  # the scheduler's "notifications" job, every 5 s at most
                time.sleep(0.2)
            alert["sent"] = time.perf_counter()
        finally:
            close_old_connections()

    t0 = time.perf_counter()
    lanes = [threading.Thread(target=subscribers_lane), threading.Thread(target=alerts_lane)]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    delivered = time.perf_counter() - t0
    total = SubscriberDelivery.objects.filter(status=DeliveryStatus.SENT).count()
    print(f"deliver: {total} of {args.subscribers} sent in {delivered:.2f} s ({total / delivered:.0f}/s), "
          f"{len(smtp.messages)} accepted by SMTP")  # type: ignore[attr-defined]  # fmt: skip
    wait = alert["sent"] - alert["queued"]
    print(f"DOWN alert queued 2 s into the send: delivered {wait:.2f} s after it was queued "
          f"(its usual time: within NOTIFICATION_SEND_INTERVAL = 5 s)")  # fmt: skip


if __name__ == "__main__":
    main()
