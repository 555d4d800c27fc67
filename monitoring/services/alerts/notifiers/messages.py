"""What an alert says: built once from a delivery, worded by templates/notifications/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.links import absolute_url
from monitoring.choices import AlertEvent, Status
from monitoring.services.alerts.ack import ack_url_for
from monitoring.validators import render_template

if TYPE_CHECKING:
    from monitoring.models import Incident, NotificationDelivery, Server

TEST_MESSAGE = "Test notification from PulseGuard: this destination works."
# The server name of a test to a config attached to no server yet.
NO_SERVER = "(no server attached yet)"
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


class LocationRef(TypedDict):
    slug: str
    name: str


class LocationPayload(TypedDict):
    """The webhook body of a ``location`` alert (SPEC §20): a probe location offline or back online."""

    delivery_id: int
    event: str
    location: LocationRef
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
    # SPEC §18: the outage it is about, its links, and the config's own wording (empty: ours).
    incident_id: int | None = None
    server_page: str = ""
    incident_url: str = ""
    ack_url: str = ""
    title_template: str = ""
    body_template: str = ""
    # A grouped alert (flood control): one notice per server; the fields above sum them up.
    servers: tuple[Notice, ...] = ()
    # A ``location`` alert (SPEC §20): the location, whose name stands in as ``server_name``.
    location: LocationRef | None = None

    @property
    def placeholders(self) -> dict[str, str]:
        """The values of a config's ``title_template`` and ``body_template`` (SPEC §18), all strings."""
        return {
            "server.name": self.server_name,
            # As the API shows it; a push server has no target, so its page stands in.
            "server.url": self.server_url or self.server_page,
            "status": self.status,
            "previous_status": self.previous_status,
            "message": self.default_message,
            "time": iso_utc(self.time),
            "downtime": short_duration(self.downtime_seconds) if self.downtime_seconds is not None else "",
            "incident_url": self.incident_url,
            "ack_url": self.ack_url,
        }

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
            "is_reminder": self.event == AlertEvent.REMINDER,
            "is_maintenance_start": self.event == AlertEvent.MAINTENANCE_START,
            "is_maintenance_end": self.event == AlertEvent.MAINTENANCE_END,
            "is_acknowledged": self.event == AlertEvent.ACKNOWLEDGED,
            "is_location": self.event == AlertEvent.LOCATION,
            "is_location_offline": self.event == AlertEvent.LOCATION and self.status == "offline",
            "is_group": bool(self.servers),
            "group_count": len(self.servers),
            "group_names": self.names_text if self.servers else "",
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
        if self.title_template:
            return " ".join(render_template(self.title_template, self.placeholders).split())
        return " ".join(self.render("subject.txt").split())

    @property
    def default_message(self) -> str:
        return " ".join(self.render("message.txt").split())

    @property
    def message(self) -> str:
        """One line for SMS, chat previews and the webhook's ``message``; or the config's ``body_template``."""
        if self.body_template:
            return render_template(self.body_template, self.placeholders).strip()
        return self.default_message

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

    def webhook_payload(self) -> WebhookPayload | GroupPayload | LocationPayload:
        if self.location is not None:
            return LocationPayload(
                delivery_id=self.delivery_id,
                event=self.event,
                location=self.location,
                status=self.status,
                time=self.time.isoformat(),
                message=self.message,
            )
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
    if delivery.location is not None:
        return location_notice(delivery)
    # The change's server (a config may serve many); a test shows the config's first server.
    server = server_of(delivery)
    change = delivery.change
    check = delivery.certificate_check
    incident = delivery.incident
    if server is None:
        # A test of a config attached to no server yet.
        return Notice(
            delivery_id=delivery.pk,
            event=delivery.event,
            server_id=0,
            server_name=NO_SERVER,
            server_url="",
            title_template=delivery.config.title_template,
            body_template=delivery.config.body_template,
            status=Status.UP,
            previous_status=Status.UP,
            time=timezone.now(),
            reason=TEST_MESSAGE,
        )
    about: dict[str, Any] = {
        "delivery_id": delivery.pk,
        "event": delivery.event,
        "server_id": server.pk,
        "server_name": server.name,
        "server_url": server.url,
        "server_page": absolute_url(reverse("web-server", kwargs={"pk": server.pk})),
        "incident_id": incident.pk if incident is not None else None,
        "incident_url": incident_url_for(incident) if incident is not None else "",
        "ack_url": _ack_url(delivery),
        "title_template": delivery.config.title_template,
        "body_template": delivery.config.body_template,
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
    if change is None and incident is not None and delivery.event in (AlertEvent.REMINDER, AlertEvent.ACKNOWLEDGED):
        return _incident_notice(delivery, about, server)
    if change is None:
        # A test, or a maintenance window starting or ending: about the server as it is now.
        reason = TEST_MESSAGE if delivery.event == AlertEvent.TEST else ""
        return Notice(**about, status=server.status, previous_status=server.status, time=timezone.now(), reason=reason)
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


def location_notice(delivery: NotificationDelivery) -> Notice:
    """A probe location went offline or came back (SPEC §20): about the location, no server."""
    location = delivery.location
    assert location is not None
    status = delivery.location_status
    return Notice(
        delivery_id=delivery.pk,
        event=delivery.event,
        server_id=0,
        server_name=location.name,
        server_url="",
        status=status,
        previous_status="online" if status == "offline" else "offline",
        time=delivery.created_at,
        reason="",
        title_template=delivery.config.title_template,
        body_template=delivery.config.body_template,
        location=LocationRef(slug=location.slug, name=location.name),
    )


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


def server_of(delivery: NotificationDelivery) -> Server | None:
    """The server an alert is about: its status change's, incident's or certificate's.

    A config may serve many servers (SPEC §18): a test message, which is about no change, shows
    the config's first server, and None when it has none.
    """
    for source in (delivery.change, delivery.incident, delivery.certificate_check):
        if source is not None:
            return source.server
    return delivery.config.servers.order_by("id").first()


def incident_url_for(incident: Incident) -> str:
    """Where a person sees the incident: its server's page, at the incident (follows PUBLIC_URL)."""
    return absolute_url(reverse("web-server", kwargs={"pk": incident.server_id})) + f"#incident-{incident.pk}"


def iso_utc(moment: datetime) -> str:
    """``2026-01-31T09:05:03Z``: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def short_duration(seconds: int) -> str:
    """``303`` → ``5m 3s``; ``90061`` → ``1d 1h 1m 1s``; ``0`` → ``0s``."""
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"


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


def alert_key(delivery: NotificationDelivery) -> str:
    """The key that makes a DOWN, its acknowledgement and its recovery one alert on the service's side.

    PagerDuty's ``dedup_key`` and Opsgenie's ``alias``: one per incident; an alert that belongs
    to no incident (a test, a certificate) is an alert of its own.
    """
    if delivery.incident_id is not None:
        return f"pulseguard-incident-{delivery.incident_id}"
    return f"pulseguard-delivery-{delivery.pk}"
