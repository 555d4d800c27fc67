"""What an alert says: built once from a delivery, worded by templates/notifications/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.template.loader import render_to_string
from django.utils import timezone

from monitoring.choices import AlertEvent

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

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


class GroupedServer(TypedDict):
    """One server of a grouped alert's ``servers`` (SPEC §18)."""

    id: int
    name: str
    url: str
    status: str
    previous_status: str
    time: str
    message: str
    downtime_seconds: NotRequired[int]


class GroupPayload(TypedDict):
    """The webhook body of a grouped alert (flood control, SPEC §18): ``servers`` instead of ``server``."""

    delivery_id: int
    event: str
    servers: list[GroupedServer]
    status: str
    time: str
    message: str


# Servers a grouped message names in its one line (the webhook's ``servers`` lists them all).
GROUP_NAMES_SHOWN = 20


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
    # A grouped alert (flood control): one notice per server; the fields above sum them up.
    servers: tuple[Notice, ...] = ()

    @property
    def names_text(self) -> str:
        """``a, b, c`` of a group's servers, at most GROUP_NAMES_SHOWN, then ``and N more``."""
        names = [n.server_name for n in self.servers[:GROUP_NAMES_SHOWN]]
        more = len(self.servers) - len(names)
        return ", ".join(names) + (f" and {more} more" if more > 0 else "")

    @property
    def context(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "is_group": bool(self.servers),
            "group_count": len(self.servers),
            "group_names": self.names_text if self.servers else "",
            "is_maintenance_start": self.event == AlertEvent.MAINTENANCE_START,
            "is_maintenance_end": self.event == AlertEvent.MAINTENANCE_END,
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

    def grouped_server(self) -> GroupedServer:
        entry = GroupedServer(
            id=self.server_id,
            name=self.server_name,
            url=self.server_url,
            status=self.status,
            previous_status=self.previous_status,
            time=self.time.isoformat(),
            message=self.reason,
        )
        if self.downtime_seconds is not None:
            entry["downtime_seconds"] = self.downtime_seconds
        return entry

    def webhook_payload(self) -> WebhookPayload | GroupPayload:
        if self.servers:
            return GroupPayload(
                delivery_id=self.delivery_id,
                event=self.event,
                servers=[n.grouped_server() for n in self.servers],
                status=self.status,
                time=self.time.isoformat(),
                message=self.message,
            )
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
    members = getattr(delivery, "members", None)
    if members and len(members) > 1:
        return group_notice(delivery, [notice_for(member) for member in members])
    change = delivery.change
    # The server is the change's (a config may serve many servers); a test has only the config's.
    server = change.server if change is not None else delivery.config.server
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
    )


def group_notice(lead: NotificationDelivery, notices: list[Notice]) -> Notice:
    """One notice for a group's servers (flood control): ``servers`` holds each; the rest sums them up."""
    first = min(notices, key=lambda n: n.time)
    return Notice(
        delivery_id=lead.pk,
        event=lead.event,
        server_id=0,
        server_name=f"{len(notices)} servers",
        server_url="",
        status=first.status,
        previous_status=first.previous_status,
        time=first.time,
        reason="",
        servers=tuple(notices),
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
