"""Generic webhook: POST the JSON body of SPEC §7, signed with the config's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import Notifier, post
from monitoring.services.alerts.notifiers.messages import notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationDelivery

SIGNATURE_HEADER = "X-PulseGuard-Signature"


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``, what a receiver recomputes to verify."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier(Notifier):
    notification_type = NotificationType.WEBHOOK

    def send(self, delivery: NotificationDelivery) -> None:
        notice = notice_for(delivery)
        # Serialise once: the signature must cover exactly the bytes that go on the wire.
        body = json.dumps(notice.webhook_payload(), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(delivery.config.secret, body),
            "X-PulseGuard-Event": notice.event,
            # The same id on every retry, so a receiver can drop a repeat it already processed.
            "X-PulseGuard-Delivery": str(delivery.pk),
        }
        post(delivery.config.recipient, data=body, headers=headers)
