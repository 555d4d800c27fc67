"""Small builders for test objects."""

from __future__ import annotations

import asyncio
from typing import Any

from monitoring.choices import PingStatus
from monitoring.models import PingResult, Server
from monitoring.services import aionet
from monitoring.services.engine import probes
from monitoring.services.engine.transitions import ProbeOutcome


def make_server(owner: Any, **fields: Any) -> Server:
    values: dict[str, Any] = {"name": "web", "protocol": "https", "host": "example.com"}
    values.update(fields)
    return Server.objects.create(owner=owner, **values)


def make_ping(server: Server, status: str = PingStatus.SUCCESS, **fields: Any) -> PingResult:
    values: dict[str, Any] = {"response_time": 12.5, "status_code": 200}
    values.update(fields)
    return PingResult.objects.create(server=server, status=status, **values)


def make_outcome(ok: bool = True) -> ProbeOutcome:
    """What a probe saw: a quick 200, or an HTTP 500."""
    if ok:
        return ProbeOutcome(status=PingStatus.SUCCESS, response_time=20.0, status_code=200)
    return ProbeOutcome(status=PingStatus.FAILURE, status_code=500, error_message="HTTP 500")


def probe_once(server: Server) -> ProbeOutcome:
    """One probe from synchronous code, on a loop and a client of its own, recording nothing:
    what a check of ``server`` would see (every recorded check runs on the check engine)."""

    async def once() -> ProbeOutcome:
        client = aionet.Client()
        try:
            return await probes.probe_async(server, client)
        finally:
            await client.close()

    return asyncio.run(once())
