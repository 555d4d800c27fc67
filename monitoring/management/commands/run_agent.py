"""``manage.py run_agent --url https://central --token pga_…``: a probe agent (SPEC §20).

The check engine of ``start_scheduler`` for one location's checks, fed by the central server's
agent API (``tasks.agent.ApiStore``) instead of the database: it needs no database, no Redis
and no credentials but its token. Stop it with Ctrl-C or SIGTERM: the checks under way finish
and are sent, the unstarted claims are given back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.services.locations.agents import well_formed
from monitoring.tasks import claims
from monitoring.tasks.agent import HINT_TOKEN, HINT_URL, ApiStore, Refused, Unreachable
from monitoring.tasks.engine import Engine

log = logging.getLogger("monitoring.tasks.agent")


class Command(BaseCommand):
    help = "Run a probe agent: check this location's servers, reporting to the central PulseGuard server."
    # No system checks: they may read the database, and an agent has none.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", required=True, help="The central PulseGuard web server, e.g. https://pulseguard.example."
        )
        parser.add_argument("--token", required=True, help="This location's agent token (pga_…).")
        parser.add_argument(
            "--buffer",
            type=int,
            default=settings.AGENT_BUFFER,
            help="Results kept while the central server is unreachable (default AGENT_BUFFER); the oldest go beyond.",
        )
        parser.add_argument(
            "--interval",
            type=int,
            default=None,
            help="Check every server every N seconds (from 1), overriding each server's own interval.",
        )
        parser.add_argument("--concurrency", type=int, default=settings.CHECK_CONCURRENCY)
        parser.add_argument("--tick", type=float, default=1.0, help="Seconds between claims of due checks.")

    def handle(self, *args: Any, **options: Any) -> None:
        url, token = options["url"].strip(), options["token"].strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"--url {url!r} is not an http(s) URL. {HINT_URL}")
        if not well_formed(token):
            raise CommandError(f"--token is not an agent token (pga_ and 43 characters). {HINT_TOKEN}")
        if (
            options["buffer"] < 1
            or options["concurrency"] < 1
            or (options["interval"] or 1) < 1
            or options["tick"] <= 0
        ):
            raise CommandError("--buffer, --concurrency and --interval must be at least 1, --tick more than 0.")
        owner = claims.new_owner()
        refused: list[str] = []
        store = ApiStore(url, token, owner=owner, buffer=options["buffer"])
        try:
            hello = store.heartbeat()
        except Unreachable as exc:
            raise CommandError(f"Cannot reach PulseGuard at {url}: {exc}") from exc
        except Refused as exc:
            raise CommandError(f"PulseGuard at {url} refused this agent: {exc}") from exc
        slug = hello["location"]["slug"]
        # Every probe names its location to the target (User-Agent, SPEC §20): here, this agent's.
        settings.PROBE_LOCATION = slug
        engine = Engine(
            concurrency=options["concurrency"],
            interval=options["interval"],
            tick=options["tick"],
            owner=owner,
            store=store,
        )
        log.info(
            "agent_started url=%s location=%s owner=%s buffer=%d concurrency=%d",
            url,
            slug,
            owner,
            options["buffer"],
            options["concurrency"],
        )
        self.stdout.write(f"Probe agent of location {slug!r} running against {url}. Ctrl-C to stop.")
        asyncio.run(self.run(engine, refused))
        if refused:
            raise CommandError(f"Stopped: {refused[0]}")
        self.stdout.write("Probe agent stopped.")

    async def run(self, engine: Engine, refused: list[str]) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, engine.stop)
        store = engine.store
        assert isinstance(store, ApiStore)

        def refuse(why: str) -> None:  # on the engine's store thread: a revoked token stops the agent
            refused.append(why)
            loop.call_soon_threadsafe(engine.stop)

        store.on_refused = refuse
        await engine.run()
