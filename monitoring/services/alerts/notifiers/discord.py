"""Discord: an incoming webhook URL that takes one embed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import Notifier, post
from monitoring.services.alerts.notifiers.messages import notice_for, unmention

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

COLOURS: dict[str, int] = {
    AlertEvent.DOWN: 0xC62828,
    AlertEvent.RECOVERY: 0x2E7D32,
    AlertEvent.DEGRADED: 0xEF6C00,
    AlertEvent.CERTIFICATE_EXPIRING: 0xEF6C00,
    AlertEvent.CERTIFICATE_INVALID: 0xC62828,
}
TEST_COLOUR = 0x1565C0
# Discord markdown that could disguise a link ([text](url)), mention (<@id>) or restyle text.
MARKDOWN = re.compile(r"([\\*_~`|\[\]<>#])")


def escape(text: str) -> str:
    """Text as it reads: Discord markdown backslash-escaped, and no ``@everyone``/``@here``."""
    return unmention(MARKDOWN.sub(r"\\\1", text))


class DiscordNotifier(Notifier):
    notification_type = NotificationType.DISCORD

    def send(self, delivery: NotificationDelivery) -> None:
        notice = notice_for(delivery)
        embed: dict[str, Any] = {
            # Titles render no links or mentions; the description and fields do.
            "title": unmention(notice.subject)[:256],
            "description": escape(notice.message)[:4096],
            "color": COLOURS.get(notice.event, TEST_COLOUR),
            "timestamp": notice.time.isoformat(),
            "fields": [
                {"name": "Status", "value": notice.status, "inline": True},
                {"name": "Previous", "value": notice.previous_status, "inline": True},
            ],
        }
        if notice.certificate is not None:
            facts = notice.certificate
            expiry = f"{facts.expires_at:%Y-%m-%d %H:%M %Z}" if facts.expires_at else "unknown"
            embed["fields"] = [
                {"name": "Expires", "value": expiry, "inline": True},
                {"name": "Days left", "value": str(facts.days_remaining), "inline": True},
            ]
        if notice.downtime_seconds is not None:
            embed["fields"].append({"name": "Downtime", "value": f"{notice.downtime_seconds} s", "inline": True})
        # Discord rejects an embed whose url is not http(s); tcp:// targets go without one.
        if notice.server_url.startswith(("http://", "https://")):
            embed["url"] = notice.server_url
        # Nobody is notified, whatever the text says (mentions inside embeds never ping anyway).
        body = {"username": "PulseGuard", "embeds": [embed], "allowed_mentions": {"parse": []}}
        post(delivery.config.recipient, json=body)
