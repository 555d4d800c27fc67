"""Pushover: ``POST /1/messages.json`` with the application token and a user or group key (SPEC §18)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

PRIORITY = {AlertEvent.DOWN: 1, AlertEvent.REMINDER: 1}  # high: sounds even in quiet hours
MAX_TITLE, MAX_MESSAGE = 250, 1024


class PushoverNotifier(ServiceNotifier):
    """The recipient is the user or group key; ``secret`` the application's API token."""

    notification_type = NotificationType.PUSHOVER

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        form = {
            "token": config.secret,
            "user": config.recipient,
            "title": notice.subject[:MAX_TITLE],
            "message": notice.message[:MAX_MESSAGE],
            "priority": str(PRIORITY.get(delivery.event, 0)),
            "timestamp": str(int(notice.time.timestamp())),
        }
        if notice.incident_url:
            form |= {"url": notice.incident_url, "url_title": "Incident in PulseGuard"}
        post(
            f"{self.base_url(config)}/1/messages.json",
            data=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
