"""Slack: an incoming webhook URL that takes text and blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import Notifier, post
from monitoring.services.alerts.notifiers.messages import notice_for, unmention

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery


def escape(text: str) -> str:
    """Slack's three entities (so no ``<!channel>``, no disguised ``<url|link>``) and no ``@channel``."""
    return unmention(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


class SlackNotifier(Notifier):
    notification_type = NotificationType.SLACK

    def send(self, delivery: NotificationDelivery) -> None:
        notice = notice_for(delivery)
        context = f"{notice.previous_status} → {notice.status} · {notice.time:%c}"
        if notice.certificate is not None and notice.certificate.expires_at is not None:
            context = f"expires {notice.certificate.expires_at:%c} · {notice.certificate.days_remaining} days left"
        subject, message = escape(notice.subject), escape(notice.message)
        body = {
            # Shown in notifications and by clients that do not render blocks.
            "text": subject,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{subject}*\n{message}"}},
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": escape(context)}],
                },
            ],
        }
        post(delivery.config.recipient, json=body)
