"""Opsgenie Alert API: create on DOWN, acknowledge, close on recovery, one alias per incident."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import alert_key, notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

PRIORITY = {AlertEvent.DOWN: "P1", AlertEvent.REMINDER: "P1", AlertEvent.CERTIFICATE_INVALID: "P2"}
MAX_MESSAGE = 130  # Opsgenie cuts an alert's message here
MAX_DESCRIPTION = 15_000


class OpsgenieNotifier(ServiceNotifier):
    """The API key is ``secret`` (or, given there, ``recipient``), sent as ``Authorization: GenieKey …``."""

    notification_type = NotificationType.OPSGENIE

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        headers = {"Authorization": f"GenieKey {config.secret or config.recipient}"}
        alias = alert_key(delivery)
        alerts = f"{self.base_url(config)}/v2/alerts"
        if delivery.event in (AlertEvent.RECOVERY, AlertEvent.ACKNOWLEDGED):
            action = "close" if delivery.event == AlertEvent.RECOVERY else "acknowledge"
            url = f"{alerts}/{quote(alias, safe='')}/{action}?identifierType=alias"
            post(url, json={"source": "PulseGuard", "note": notice.message}, headers=headers)
            return
        body = {
            "message": notice.subject[:MAX_MESSAGE],
            "alias": alias,
            "description": notice.message[:MAX_DESCRIPTION],
            "source": "PulseGuard",
            "entity": notice.server_name,
            "priority": PRIORITY.get(delivery.event, "P3"),
            "details": {"status": notice.status, "server_url": notice.server_url, "incident_url": notice.incident_url},
        }
        post(alerts, json=body, headers=headers)
