"""When a certificate check alerts (SPEC §13): once per certificate and threshold.

``on_certificate_check()`` runs in the transaction that stores the check
(``services.engine.certificates.check_certificate``), so the check and its delivery rows commit
together; the rows are then sent, retried and recorded like every alert (``services.alerts.delivery``).

The rules:

1. A certificate that was read but does not verify queues one ``certificate_invalid`` per
   certificate (its SHA-256 fingerprint) — unless the server has ``verify_tls`` off, whose
   operator said verification does not matter; it then follows rule 2 like a valid one.
2. A certificate with ``days_remaining`` at or below thresholds of ``cert_expiry_alert_days``
   queues one ``certificate_expiring`` for the lowest threshold reached, once per
   certificate: several thresholds crossed at once make one alert, the next lower threshold
   another, and a renewed certificate (a new fingerprint) starts afresh.
3. Once-only is the database's job: each row's ``dedupe_key`` names the event, fingerprint
   and threshold, unique per config, and a second INSERT of the same key (another process,
   a check-now racing the scheduler, the next check) is ignored.
4. Only enabled configs attached to the server whose ``events`` include ``certificate``, and nothing while the server's
   ``notifications`` switch is off. No cooldown: these are rare by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from monitoring.choices import AlertEvent
from monitoring.models import CertificateCheck, NotificationConfig, NotificationDelivery, Server

log = logging.getLogger(__name__)


def decide(
    *,
    fingerprint: str,
    valid: bool,
    days_remaining: int | None,
    thresholds: Iterable[int],
    verify_tls: bool = True,
) -> tuple[str, str] | None:
    """(event, dedupe_key) of the alert a check calls for, or None. Pure."""
    if not fingerprint:  # nothing was read (refused, timed out): the HTTP check reports that
        return None
    if not valid and verify_tls:
        return AlertEvent.CERTIFICATE_INVALID, f"{AlertEvent.CERTIFICATE_INVALID}:{fingerprint}"
    if days_remaining is None:
        return None
    reached = [days for days in thresholds if days_remaining <= days]
    if not reached:
        return None
    return AlertEvent.CERTIFICATE_EXPIRING, f"{AlertEvent.CERTIFICATE_EXPIRING}:{fingerprint}:{min(reached)}"


def on_certificate_check(server: Server, check: CertificateCheck) -> list[NotificationDelivery]:
    """Queue the alert ``check`` calls for to each config that wants it; the rows offered."""
    decision = decide(
        fingerprint=check.fingerprint_sha256,
        valid=check.valid,
        days_remaining=check.days_remaining,
        thresholds=server.cert_expiry_alert_days or [],
        verify_tls=server.verify_tls,
    )
    if decision is None:
        return []
    event, key = decision
    # Read the switch afresh: the Server object the checker holds may predate an API change.
    if not Server.objects.filter(pk=server.pk, notifications=True).exists():
        return []
    configs = [c for c in NotificationConfig.objects.of_servers([server.pk]).get(server.pk, []) if c.wants(event)]
    # The server is in the key: a team config hears of several servers, which may share a certificate.
    key = f"{server.pk}:{key}"
    rows = [
        NotificationDelivery(
            config=config,
            certificate_check=check,
            dedupe_key=key,
            event=event,
            next_attempt_at=check.checked_at,
            created_at=check.checked_at,
        )
        for config in configs
    ]
    NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    for row in rows:
        log.info(
            "certificate_alert_offered server_id=%s config_id=%s event=%s key=%s",
            server.pk,
            row.config_id,
            event,
            key,
        )
    return rows
