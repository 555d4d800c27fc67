"""Telegram: a bot's ``sendMessage`` to a chat id, with the bot token in the path (SPEC §18)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import notice_for, unmention

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

MAX_TEXT = 4096  # Telegram refuses longer messages


class TelegramNotifier(ServiceNotifier):
    notification_type = NotificationType.TELEGRAM

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        # HTML parse mode: only <b> is ours; everything a target wrote is escaped.
        text = f"<b>{html.escape(notice.subject)}</b>\n{html.escape(unmention(notice.message))}"
        body = {
            "chat_id": config.recipient,
            "text": text[:MAX_TEXT],
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        post(f"{self.base_url(config)}/bot{config.secret}/sendMessage", json=body, redact=config.secret)
