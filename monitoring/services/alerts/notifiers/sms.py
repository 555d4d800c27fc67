"""SMS through a Twilio-compatible REST API whose base URL, account and token are settings."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import Notifier, PermanentError, post
from monitoring.services.alerts.notifiers.messages import notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationConfig, NotificationDelivery

# Twilio splits longer bodies into segments and refuses past 1600 characters.
MAX_BODY = 1600


class SmsNotifier(Notifier):
    notification_type = NotificationType.SMS

    def receiver_host(self, config: NotificationConfig) -> str:
        return (urlsplit(settings.SMS_GATEWAY_URL).hostname or "").lower()  # the recipient is a phone number

    def send(self, delivery: NotificationDelivery) -> None:
        sid, token, sender = settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN, settings.SMS_FROM_NUMBER
        needed = {"SMS_ACCOUNT_SID": sid, "SMS_AUTH_TOKEN": token, "SMS_FROM_NUMBER": sender}
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise PermanentError(f"SMS is not configured: set {', '.join(missing)}")
        url = f"{settings.SMS_GATEWAY_URL.rstrip('/')}/2010-04-01/Accounts/{quote(sid, safe='')}/Messages.json"
        form = {"To": delivery.config.recipient, "From": sender, "Body": notice_for(delivery).message[:MAX_BODY]}
        post(
            url,
            data=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(sid, token),
        )
