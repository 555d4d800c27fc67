"""Certificate checks, fit for cron: ``manage.py check_certificates [--all] [--server ID ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from monitoring.choices import Protocol
from monitoring.management.commands._targets import add_target_arguments, check_concurrency
from monitoring.models import CertificateCheck, Server
from monitoring.services.alerts.delivery import send_pending
from monitoring.services.engine.certificates import NOT_HTTPS, checks_certificate
from monitoring.tasks.certificates import claim_due_certificates
from monitoring.tasks.engine import CertificateJob, run_certificate_checks


class Command(BaseCommand):
    help = (
        "Check the TLS certificates of https servers that are due (or --all, or --server ID) once, "
        "print a table and exit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_target_arguments(parser, "https server")

    def handle(self, *args: Any, **options: Any) -> None:
        check_concurrency(options["concurrency"])
        jobs: list[CertificateJob]
        if options["server_ids"]:
            wanted = set(options["server_ids"])
            servers = list(Server.objects.filter(pk__in=wanted).order_by("id"))
            missing = wanted - {s.pk for s in servers}
            if missing:
                raise CommandError(f"No server with id {', '.join(map(str, sorted(missing)))}.")
            not_https = [s for s in servers if not checks_certificate(s)]
            if not_https:
                raise CommandError(f"{NOT_HTTPS} Not https: {', '.join(str(s.pk) for s in not_https)}.")
            jobs = [(s, None) for s in servers]
        elif options["all"]:
            jobs = [(s, None) for s in Server.objects.active().filter(protocol=Protocol.HTTPS).order_by("id")]
        else:
            # Claimed like the scheduler's step, so cron and a running scheduler never both check one.
            jobs = [(c.server, c) for c in claim_due_certificates(timezone.now(), limit=100_000)]

        total = len(jobs)
        self.stdout.write(f"Checking {total} certificate(s) with concurrency {options['concurrency']}…")
        done = 0

        def progress(server: Server, check: CertificateCheck | None, error: str) -> None:
            nonlocal done
            done += 1
            if check is None:
                outcome = f"error: {error}"
            elif check.valid:
                outcome = f"valid, {check.days_remaining} day(s) left"
            else:
                outcome = f"invalid: {check.error}"
            self.stdout.write(f"  [{done}/{total}] {server.name} ({server.host}:{server.effective_port}): {outcome}")

        checks = run_certificate_checks(jobs, concurrency=options["concurrency"], on_done=progress)
        self._print_table(checks)
        invalid = sum(1 for c in checks if not c.valid)
        renew = sum(1 for c in checks if c.needs_renewal)
        self.stdout.write(
            self.style.SUCCESS(
                f"Checked {len(checks)}: {len(checks) - invalid} valid, {invalid} invalid, "
                f"{renew} need renewal, {total - len(checks)} error(s)."
            )
        )
        # Certificate alerts this pass queued go out before cron's run ends, as check_servers does.
        self.stdout.write(f"Sent {send_pending(limit=100_000)} notification(s).")

    def _print_table(self, checks: list[CertificateCheck]) -> None:
        if not checks:
            return
        rows = [
            (
                str(c.server_id),
                c.server.name[:30],
                "yes" if c.valid else "no",
                f"{c.expires_at:%Y-%m-%d}" if c.expires_at else "",
                "" if c.days_remaining is None else str(c.days_remaining),
                c.issuer[:40],
                "yes" if c.needs_renewal else "no",
            )
            for c in sorted(checks, key=lambda c: c.server_id)
        ]
        header = ("ID", "SERVER", "VALID", "EXPIRES", "DAYS", "ISSUER", "NEEDS_RENEWAL")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if any(c.needs_renewal for c in checks):
            self.stdout.write(self.style.WARNING("Some certificates need renewal."))
