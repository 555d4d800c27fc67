"""Gotify: ``POST /message`` on a self-hosted server with an application token (SPEC §18)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

# Gotify's clients: 8 and up pop up and sound, 4-7 sound, below stays quiet.
PRIORITY = {AlertEvent.DOWN: 8, AlertEvent.REMINDER: 8, AlertEvent.CERTIFICATE_INVALID: 6, AlertEvent.DEGRADED: 5}


class GotifyNotifier(ServiceNotifier):
    """``api_base_url`` is the Gotify server; the token is ``secret`` (or ``recipient``), sent as X-Gotify-Key."""

    notification_type = NotificationType.GOTIFY

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        body = {"title": notice.subject, "message": notice.message, "priority": PRIORITY.get(delivery.event, 4)}
        # In a header rather than ?token=: a URL ends up in proxies' logs.
        headers = {"X-Gotify-Key": config.secret or config.recipient}
        post(f"{self.base_url(config)}/message", json=body, headers=headers)
