"""Options shared by the one-pass commands (check_servers, check_certificates)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError, CommandParser


def add_target_arguments(parser: CommandParser, what: str) -> None:
    """``--all``, ``--server ID`` (repeatable) and ``--concurrency N``; ``what`` names the servers."""
    parser.add_argument("--all", action="store_true", help=f"Check every active {what}, due or not.")
    parser.add_argument(
        "--server",
        type=int,
        action="append",
        dest="server_ids",
        metavar="ID",
        help=f"Check this {what} whether due or not (repeatable).",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=settings.CHECK_CONCURRENCY,
        help="Checks to run at once (default %(default)s).",
    )


def check_concurrency(value: int) -> None:
    if value < 1:
        raise CommandError("--concurrency must be at least 1.")
