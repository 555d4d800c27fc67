"""Microsoft Teams: an incoming-webhook (Workflows) URL that takes an Adaptive Card (SPEC §18)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import Notifier, post
from monitoring.services.alerts.notifiers.messages import notice_for, unmention

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

COLOURS = {AlertEvent.DOWN: "attention", AlertEvent.RECOVERY: "good", AlertEvent.DEGRADED: "warning"}


def plain(text: str) -> str:
    """Text as it reads: Teams renders a little markdown in a TextBlock, so ``[text](url)`` is broken up."""
    return unmention(text).replace("](", "]\u200b(")


class TeamsNotifier(Notifier):
    """The recipient is the webhook URL (guarded like a webhook's); Teams takes no signing secret."""

    notification_type = NotificationType.MSTEAMS

    def send(self, delivery: NotificationDelivery) -> None:
        notice = notice_for(delivery)
        facts = [
            {"title": "Status", "value": f"{notice.previous_status} → {notice.status}"},
            {"title": "Time", "value": f"{notice.time:%Y-%m-%d %H:%M:%S %Z}"},
        ]
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "text": plain(notice.subject),
                    "weight": "bolder",
                    "size": "medium",
                    "wrap": True,
                    "color": COLOURS.get(notice.event, "default"),
                },
                {"type": "TextBlock", "text": plain(notice.message), "wrap": True},
                {"type": "FactSet", "facts": facts},
            ],
        }
        if notice.incident_url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open incident", "url": notice.incident_url}]
        body = {
            "type": "message",
            "summary": notice.subject,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }
        post(delivery.config.recipient, json=body)
