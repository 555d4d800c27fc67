"""``manage.py send_notifications``: one pass over the alerts that are due, fit for cron."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.choices import DeliveryStatus
from monitoring.models import NotificationDelivery
from monitoring.services.alerts.delivery import send_pending


class Command(BaseCommand):
    help = "Send the queued alerts that are due (and retries whose time has come) once, then exit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=1000, help="Send at most this many in this pass (default %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        handled = send_pending(limit=options["limit"])
        waiting = NotificationDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.DEFERRED]
        ).count()
        self.stdout.write(self.style.SUCCESS(f"Handled {handled} notification(s); {waiting} still queued."))
