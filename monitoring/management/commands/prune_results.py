"""``manage.py prune_results [--days N]``: delete raw results older than N days, rolled up first,
and audit rows older than AUDIT_RETENTION_DAYS."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.services.history.retention import DELETE_BATCH, prune, prune_audit


class Command(BaseCommand):
    help = (
        "Delete PingResults older than --days (default RAW_RESULT_RETENTION_DAYS) in small batches, "
        "each hour rolled up first so uptime and charts stay right; print progress and a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Keep this many days of raw results (at least 1).")
        parser.add_argument("--batch-size", type=int, default=DELETE_BATCH, help="Rows per delete transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.RAW_RESULT_RETENTION_DAYS if options["days"] is None else options["days"]
        if options["days"] is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        self._prune_audit()
        if days == 0:
            self.stdout.write("RAW_RESULT_RETENTION_DAYS is 0: raw results are kept for ever; nothing to do.")
            return
        self.stdout.write(f"Pruning raw results older than {days} day(s)…")

        def progress(hour: datetime, deleted: int) -> None:
            self.stdout.write(f"  {hour:%Y-%m-%d %H:00} UTC: {deleted} deleted")

        summary = prune(
            days,
            batch_size=options["batch_size"],
            rollup_days=settings.ROLLUP_RETENTION_DAYS,
            progress=progress,
        )
        span = f" from {summary.oldest_deleted:%Y-%m-%d %H:00}" if summary.oldest_deleted else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {summary.deleted} result(s) in {summary.hours} hour(s){span} "
                f"before {summary.cutoff:%Y-%m-%d %H:00} UTC ({summary.batches} batch(es)); "
                f"{summary.rollups_deleted} rollup(s) deleted."
            )
        )

    def _prune_audit(self) -> None:
        days = settings.AUDIT_RETENTION_DAYS
        if days == 0:
            self.stdout.write("AUDIT_RETENTION_DAYS is 0: audit rows are kept for ever.")
            return
        deleted = prune_audit(days)
        self.stdout.write(f"Deleted {deleted} audit row(s) older than {days} day(s).")
