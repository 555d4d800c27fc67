"""Helpers for the alerting tests: servers, configs, and status changes on demand."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from monitoring.choices import NotificationType, PingStatus, Protocol
from monitoring.models import NotificationConfig, Server
from monitoring.services.engine.checks import record_outcome
from monitoring.services.engine.recording import CheckRecord
from monitoring.services.engine.transitions import ProbeOutcome

SECRET = "s3cret-key-for-tests-0123456789"


def make_server(owner: Any, *, port: int = 80, **fields: Any) -> Server:
    defaults: dict[str, Any] = {"name": "web", "protocol": Protocol.HTTP, "host": "127.0.0.1", "port": port}
    return Server.objects.create(owner=owner, **(defaults | fields))


def make_config(
    server: Server, kind: str = NotificationType.WEBHOOK, recipient: str = "", **fields: Any
) -> NotificationConfig:
    fields.setdefault("secret", SECRET)
    fields.setdefault("events", events(**{k: fields.pop(k) for k in list(fields) if k.startswith("notify_on_")}))
    return NotificationConfig.objects.create_for(
        server, notification_type=kind, recipient=recipient or "http://127.0.0.1:9/hook", **fields
    )


def events(
    notify_on_failure: bool = True, notify_on_recovery: bool = True, notify_on_degraded: bool = False
) -> list[str]:
    """A config's ``events`` from part two's switches, with part two's defaults (no degraded),
    which these tests were written against."""
    chosen = {"maintenance", "location", "test"}
    chosen |= {"down", "certificate"} if notify_on_failure else set()
    chosen |= {"recovery"} if notify_on_recovery else set()
    chosen |= {"degraded"} if notify_on_degraded else set()
    return sorted(chosen)


def go_down(server: Server, when: datetime | None = None, error: str = "HTTP 500: oops") -> CheckRecord:
    """Record one failed check (the real check engine, without the probe)."""
    outcome = ProbeOutcome(PingStatus.FAILURE, response_time=5.0, status_code=500, error_message=error)
    return record_outcome(server, outcome, now=when)


def go_up(server: Server, when: datetime | None = None, response_time: float = 5.0) -> CheckRecord:
    """Record one successful check."""
    outcome = ProbeOutcome(PingStatus.SUCCESS, response_time=response_time, status_code=200)
    return record_outcome(server, outcome, now=when)


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the HMAC of the raw body and compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
