"""``manage.py start_scheduler [--interval 300]``: check every server on its own interval."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.models.servers import MAX_INTERVAL, MIN_INTERVAL
from monitoring.tasks.scheduler import Scheduler


class Command(BaseCommand):
    help = "Run checks continuously, each server on its own interval; stop with Ctrl-C or SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=int,
            default=None,
            help="Check every server every N seconds, overriding each server's own interval.",
        )
        parser.add_argument("--concurrency", type=int, default=settings.CHECK_CONCURRENCY)
        parser.add_argument("--tick", type=float, default=0.25, help="Seconds between looks for due work.")

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"]
        if interval is not None and not MIN_INTERVAL <= interval <= MAX_INTERVAL:
            raise CommandError(f"--interval must be between {MIN_INTERVAL} and {MAX_INTERVAL} seconds.")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        scheduler = Scheduler(interval=interval, concurrency=options["concurrency"], tick_seconds=options["tick"])
        signal.signal(signal.SIGTERM, scheduler.stop)
        signal.signal(signal.SIGINT, scheduler.stop)
        self.stdout.write(
            f"Scheduler running (interval: {interval or 'per server'}, concurrency: {options['concurrency']}). "
            "Ctrl-C to stop."
        )
        scheduler.run()
        self.stdout.write("Scheduler stopped.")
