"""What an alert says: built once from a delivery, worded by templates/notifications/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.template.loader import render_to_string
from django.utils import timezone

from monitoring.choices import AlertEvent
from monitoring.services.alerts.ack import ack_url_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery, Server

TEST_MESSAGE = "Test notification from PulseGuard: this destination works."
# The words chat services turn into "notify everyone"; the channels escape their own markup.
MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def unmention(text: str) -> str:
    """``@channel``, ``@here``, ``@everyone`` with a zero-width space after the ``@``: read the same, notify nobody.

    Applied to all text a target or a push wrote (SPEC §23), whatever the channel.
    """
    return MENTION.sub("@\u200b", text)


class ServerRef(TypedDict):
    id: int
    name: str
    url: str


class CertificatePayload(TypedDict):
    """The ``certificate`` object of a certificate alert's webhook body (SPEC §13)."""

    days_remaining: int | None
    expiry_date: str | None
    issuer: str
    subject: str
    valid: bool
    error: str


class WebhookPayload(TypedDict):
    """The generic webhook's JSON body (SPEC §7); the same fields outside clients rely on.

    ``delivery_id`` is the same on every attempt of one alert (SPEC §23), like the
    ``X-PulseGuard-Delivery`` header: a receiver drops a repeat by it.
    """

    delivery_id: int
    event: str
    server: ServerRef
    status: str
    previous_status: str
    time: str
    message: str
    downtime_seconds: NotRequired[int]
    certificate: NotRequired[CertificatePayload]


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate alert says about the certificate."""

    days_remaining: int | None
    expires_at: datetime | None
    issuer: str
    subject: str
    valid: bool
    error: str

    def payload(self) -> CertificatePayload:
        return CertificatePayload(
            days_remaining=self.days_remaining,
            expiry_date=self.expires_at.isoformat() if self.expires_at else None,
            issuer=self.issuer,
            subject=self.subject,
            valid=self.valid,
            error=self.error,
        )

    @property
    def days_text(self) -> str:
        """``in 5 days``, ``in 1 day``, ``today``, ``3 days ago``."""
        days = self.days_remaining
        if days is None:
            return "at an unknown date"
        if days == 0:
            return "within a day"
        unit = "day" if abs(days) == 1 else "days"
        return f"in {days} {unit}" if days > 0 else f"{-days} {unit} ago"


@dataclass(frozen=True)
class Notice:
    """Everything a channel needs to word one alert."""

    delivery_id: int
    event: str
    server_id: int
    server_name: str
    server_url: str
    status: str
    previous_status: str
    time: datetime
    reason: str
    downtime_seconds: int | None = None
    certificate: CertificateFacts | None = None
    # The one-click acknowledge link of an open incident's DOWN or reminder (SPEC §18).
    ack_url: str = ""

    @property
    def context(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "is_cert_expiring": self.event == AlertEvent.CERTIFICATE_EXPIRING,
            "is_cert_invalid": self.event == AlertEvent.CERTIFICATE_INVALID,
            "cert": cert,
            "cert_days": cert.days_text if cert else "",
            "cert_expiry": f"{cert.expires_at:%Y-%m-%d %H:%M %Z}" if cert and cert.expires_at else "",
            "cert_expired": bool(cert and cert.days_remaining is not None and cert.days_remaining < 0),
            "notice": self,
            "event": self.event,
            "is_down": self.event == AlertEvent.DOWN,
            "is_recovery": self.event == AlertEvent.RECOVERY,
            "is_degraded": self.event == AlertEvent.DEGRADED,
            "is_test": self.event == AlertEvent.TEST,
            "is_reminder": self.event == AlertEvent.REMINDER,
            "is_acknowledged": self.event == AlertEvent.ACKNOWLEDGED,
            "status_word": self.status.upper(),
            "downtime": humanize_seconds(self.downtime_seconds) if self.downtime_seconds is not None else "",
            "time_text": f"{self.time:%Y-%m-%d %H:%M:%S %Z}",
        }

    def render(self, name: str) -> str:
        """Render ``notifications/<name>`` (whitespace at the ends stripped)."""
        return render_to_string(f"notifications/{name}", self.context).strip()

    @property
    def subject(self) -> str:
        return " ".join(self.render("subject.txt").split())

    @property
    def message(self) -> str:
        """One line for SMS, chat previews and the webhook's ``message``."""
        return " ".join(self.render("message.txt").split())

    def webhook_payload(self) -> WebhookPayload:
        payload = WebhookPayload(
            delivery_id=self.delivery_id,
            event=self.event,
            server=ServerRef(id=self.server_id, name=self.server_name, url=self.server_url),
            status=self.status,
            previous_status=self.previous_status,
            time=self.time.isoformat(),
            message=self.message,
        )
        if self.event == AlertEvent.RECOVERY and self.downtime_seconds is not None:
            payload["downtime_seconds"] = self.downtime_seconds
        if self.certificate is not None:
            payload["certificate"] = self.certificate.payload()
        return payload


def notice_for(delivery: NotificationDelivery) -> Notice:
    """The notice for a queued alert (its status change or certificate check) or a test message.

    Every notice names the server the same way; what happened, when and why depends on the
    source: a certificate check, a status change, or nothing (a test, or a config's Send test).
    """
    server = server_of(delivery)
    change = delivery.change
    check = delivery.certificate_check
    about = {
        "delivery_id": delivery.pk,
        "event": delivery.event,
        "server_id": server.pk,
        "server_name": server.name,
        "server_url": server.url,
    }
    if check is not None:
        facts = CertificateFacts(
            days_remaining=check.days_remaining,
            expires_at=check.expires_at,
            issuer=unmention(check.issuer),
            subject=unmention(check.subject),
            valid=check.valid,
            error=unmention(check.error),
        )
        return Notice(
            **about,
            status=server.status,
            previous_status=server.status,
            time=check.checked_at,
            reason=facts.error,
            certificate=facts,
        )
    incident = delivery.incident
    if change is None and incident is not None and delivery.event in (AlertEvent.REMINDER, AlertEvent.ACKNOWLEDGED):
        return _incident_notice(delivery, about, server)
    if change is None:
        return Notice(
            **about, status=server.status, previous_status=server.status, time=timezone.now(), reason=TEST_MESSAGE
        )
    downtime = None
    if delivery.event == AlertEvent.RECOVERY and delivery.incident is not None:
        downtime = delivery.incident.duration_seconds
    return Notice(
        **about,
        status=change.status,
        previous_status=change.previous_status,
        time=change.changed_at,
        reason=unmention(change.message),
        downtime_seconds=downtime,
        ack_url=_ack_url(delivery),
    )


def server_of(delivery: NotificationDelivery) -> Server:
    """The server an alert is about: its status change's or incident's, else its config's."""
    if delivery.change is not None:
        return delivery.change.server
    if delivery.incident is not None:
        return delivery.incident.server
    return delivery.config.server


def _ack_url(delivery: NotificationDelivery) -> str:
    """The ack link of a DOWN or reminder whose incident is still open; else empty."""
    incident = delivery.incident
    if delivery.event not in (AlertEvent.DOWN, AlertEvent.REMINDER) or incident is None or not incident.is_open:
        return ""
    return ack_url_for(incident)


def _incident_notice(delivery: NotificationDelivery, about: dict[str, Any], server: Server) -> Notice:
    """A reminder (still down since …) or an acknowledgement (who took it, and their note)."""
    incident = delivery.incident
    assert incident is not None
    if delivery.event == AlertEvent.REMINDER:
        open_for = max(0, round((delivery.created_at - incident.started_at).total_seconds()))
        reason = f"still DOWN after {humanize_seconds(open_for)}: {unmention(incident.first_error)}".rstrip(": ")
        return Notice(
            **about,
            status=server.status,
            previous_status=server.status,
            time=incident.started_at,
            reason=reason,
            downtime_seconds=open_for,
            ack_url=_ack_url(delivery),
        )
    entry = next((e for e in reversed(incident.timeline or []) if e.get("kind") == "acknowledged"), {})
    who = entry.get("by") or "someone"
    note = unmention(str(entry.get("note") or ""))
    return Notice(
        **about,
        status=server.status,
        previous_status=server.status,
        time=incident.acknowledged_at or delivery.created_at,
        reason=f"acknowledged by {who}" + (f": {note}" if note else ""),
    )


def humanize_seconds(seconds: int) -> str:
    """``3725`` → ``1 h 2 min 5 s``; the largest three units, for people."""
    if seconds < 60:
        return f"{seconds} s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {unit}")
    return " ".join(parts[:3])
