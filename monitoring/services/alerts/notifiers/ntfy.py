"""ntfy: publish as JSON to the server's root, with an optional access token (SPEC §18)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

# ntfy priorities: 1 min … 3 default … 5 max; and the emoji tags it shows before the title.
PRIORITY = {AlertEvent.DOWN: 5, AlertEvent.REMINDER: 5, AlertEvent.CERTIFICATE_INVALID: 4, AlertEvent.DEGRADED: 4}
TAGS = {AlertEvent.DOWN: "rotating_light", AlertEvent.RECOVERY: "white_check_mark", AlertEvent.DEGRADED: "warning"}


class NtfyNotifier(ServiceNotifier):
    """The recipient is the topic; ``secret``, when given, is an access token (Bearer)."""

    notification_type = NotificationType.NTFY

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        # JSON rather than the headers form: a title in headers must be Latin-1.
        body: dict[str, Any] = {
            "topic": config.recipient,
            "title": notice.subject,
            "message": notice.message,
            "priority": PRIORITY.get(delivery.event, 3),
        }
        if delivery.event in TAGS:
            body["tags"] = [TAGS[delivery.event]]
        if notice.incident_url:
            body["click"] = notice.incident_url
        headers = {"Authorization": f"Bearer {config.secret}"} if config.secret else {}
        post(f"{self.base_url(config)}/", json=body, headers=headers)
