"""One pass of checks, fit for cron: ``manage.py check_servers [--all] [--server ID ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from monitoring.choices import Protocol, Status
from monitoring.management.commands._targets import add_target_arguments, check_concurrency
from monitoring.models import Server
from monitoring.services.alerts import grouping
from monitoring.services.engine.recording import CheckRecord
from monitoring.tasks import housekeeping
from monitoring.tasks.claims import claim_due, new_owner
from monitoring.tasks.engine import run_once


class Command(BaseCommand):
    help = "Check the servers that are due (or --all, or --server ID) once, print a summary and exit."

    def add_arguments(self, parser: CommandParser) -> None:
        add_target_arguments(parser, "server")
        parser.add_argument("--fail-on-down", action="store_true", help="Exit 2 if any checked server is down.")

    def handle(self, *args: Any, **options: Any) -> None:
        check_concurrency(options["concurrency"])
        now = timezone.now()
        owner = ""
        if options["server_ids"]:
            wanted = set(options["server_ids"])
            servers = list(Server.objects.filter(pk__in=wanted).exclude(protocol=Protocol.PUSH).order_by("id"))
            missing = wanted - {s.pk for s in servers}
            pushed = set(Server.objects.filter(pk__in=missing, protocol=Protocol.PUSH).values_list("pk", flat=True))
            if pushed:
                ids = ", ".join(map(str, sorted(pushed)))
                raise CommandError(f"Server {ids}: a push monitor is never checked; its job calls its push URL.")
            if missing:
                raise CommandError(f"No server with id {', '.join(map(str, sorted(missing)))}.")
        elif options["all"]:
            servers = list(Server.objects.active().checked_here().exclude(protocol=Protocol.PUSH).order_by("id"))
        else:
            # Claimed like the scheduler's checks: a running scheduler never checks them too, and
            # each moves on to its next due time (fixed rate) as its result is recorded.
            owner = new_owner()
            servers = claim_due(now, owner=owner, limit=100_000)

        total = len(servers)
        self.stdout.write(f"Checking {total} server(s) with concurrency {options['concurrency']}…")
        done = 0

        def progress(server: Server, record: CheckRecord | None, error: str) -> None:
            nonlocal done
            done += 1
            outcome = record.state.status if record else f"error: {error}"
            self.stdout.write(f"  [{done}/{total}] {server.name} ({server.url}): {outcome}")

        summary = run_once(servers, concurrency=options["concurrency"], on_done=progress, claimed_by=owner)
        self._print_table(summary.records)
        counts = summary.as_dict()
        self.stdout.write(
            self.style.SUCCESS(
                f"Checked {counts['checked']}: {counts['up']} up, {counts['down']} down, "
                f"{counts['degraded']} degraded, {len(summary.errors)} error(s)."
            )
        )
        # SPEC §22: cron with only this command does the whole job; the slow steps run once, and
        # the alerts queued meanwhile (and retries that are due) go out before we exit (SPEC §6),
        # those held for flood control (a few seconds) too (SPEC §18).
        grouping.wait_for_held()
        self.stdout.write(housekeeping.run_all().describe())
        if options["fail_on_down"] and counts["down"]:
            raise SystemExit(2)

    def _print_table(self, records: list[CheckRecord]) -> None:
        if not records:
            return
        rows = [
            (
                str(r.ping.server_id),
                r.ping.server.name[:30],
                r.state.status,
                r.ping.status,
                "" if r.ping.response_time is None else f"{r.ping.response_time:.0f}",
                r.state.message[:60],
            )
            for r in sorted(records, key=lambda r: r.ping.server_id)
        ]
        header = ("ID", "NAME", "STATUS", "RESULT", "MS", "MESSAGE")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if any(r.state.status == Status.DOWN for r in records):
            self.stdout.write(self.style.WARNING("Some servers are DOWN."))
