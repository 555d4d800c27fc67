"""PagerDuty Events API v2: trigger on DOWN, acknowledge, resolve on recovery, one dedup_key per incident."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services.alerts.notifiers.base import ServiceNotifier, post
from monitoring.services.alerts.notifiers.messages import alert_key, iso_utc, notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

# The action each event takes on the incident's PagerDuty alert; every other event triggers one.
ACTIONS = {AlertEvent.RECOVERY: "resolve", AlertEvent.ACKNOWLEDGED: "acknowledge"}
SEVERITY = {
    AlertEvent.DOWN: "critical",
    AlertEvent.REMINDER: "critical",
    AlertEvent.CERTIFICATE_INVALID: "error",
    AlertEvent.DEGRADED: "warning",
    AlertEvent.CERTIFICATE_EXPIRING: "warning",
}
MAX_SUMMARY = 1024


class PagerDutyNotifier(ServiceNotifier):
    """The routing key is ``secret`` (or, given there, ``recipient``)."""

    notification_type = NotificationType.PAGERDUTY

    def send(self, delivery: NotificationDelivery) -> None:
        config = delivery.config
        notice = notice_for(delivery)
        action = ACTIONS.get(delivery.event, "trigger")
        body: dict[str, Any] = {
            "routing_key": config.secret or config.recipient,
            "event_action": action,
            "dedup_key": alert_key(delivery),
        }
        if action == "trigger":
            # A reminder re-triggers the same dedup_key: PagerDuty folds it into the open alert.
            body["payload"] = {
                "summary": notice.subject[:MAX_SUMMARY],
                "source": notice.server_url or notice.server_name,
                "severity": SEVERITY.get(delivery.event, "info"),
                "timestamp": iso_utc(notice.time),
                "component": notice.server_name,
                "custom_details": {"message": notice.message, "status": notice.status},
            }
            body["client"] = "PulseGuard"
            body["client_url"] = notice.server_page
            if notice.incident_url:
                body["links"] = [{"href": notice.incident_url, "text": "Incident in PulseGuard"}]
        post(f"{self.base_url(config)}/v2/enqueue", json=body)
