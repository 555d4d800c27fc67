"""Apprise: any of its hundred-odd services, named by an Apprise URL (SPEC §18).

One ``Apprise()`` object per send, holding this config's URL alone, so each delivery keeps
its own outcome (Healthchecks' ``hc/integrations/apprise/transport.py`` does the same).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitoring.choices import AlertEvent, NotificationType
from monitoring.services import net
from monitoring.services.alerts.notifiers.base import Notifier, PermanentError, TransientError
from monitoring.services.alerts.notifiers.messages import notice_for
from monitoring.validators import apprise_host_url

if TYPE_CHECKING:
    from monitoring.models import NotificationConfig, NotificationDelivery

# Apprise's NotifyType values (its icons and colours); "info" for the rest.
KINDS = {
    AlertEvent.DOWN: "failure",
    AlertEvent.REMINDER: "failure",
    AlertEvent.CERTIFICATE_INVALID: "failure",
    AlertEvent.RECOVERY: "success",
    AlertEvent.DEGRADED: "warning",
    AlertEvent.CERTIFICATE_EXPIRING: "warning",
}
MAX_ERROR = 300


class AppriseNotifier(Notifier):
    notification_type = NotificationType.APPRISE

    def receiver_host(self, config: NotificationConfig) -> str:
        # A self-hosted receiver's host; for a cloud service, its scheme ("tgram") stands for it.
        guarded = apprise_host_url(config.recipient)
        if guarded is not None:
            return (urlsplit(guarded).hostname or "").lower()
        return config.recipient.partition("://")[0].lower()

    def send(self, delivery: NotificationDelivery) -> None:
        url = delivery.config.recipient
        guarded = apprise_host_url(url)
        if guarded is not None:
            # Apprise connects by itself; its host is judged here, like every way out.
            try:
                net.guard_url(guarded)
            except net.PrivateAddressError as exc:
                raise PermanentError(str(exc)) from exc
            except OSError as exc:
                raise TransientError(f"connection failed: {exc}") from exc
        # Imported here: loading Apprise's plugins takes half a second, paid only by processes that use it.
        import apprise

        notice = notice_for(delivery)
        sender = apprise.Apprise()
        if not sender.add(url):
            raise PermanentError("Apprise does not accept this URL")
        with apprise.LogCapture(level=logging.WARNING) as log:
            delivered = sender.notify(
                title=notice.subject,
                body=notice.message,
                notify_type=apprise.NotifyType(KINDS.get(delivery.event, "info")),
            )
        if not delivered:
            # Apprise says only "failed"; its log says why. A retry may help (most failures are
            # the service's), and NOTIFICATION_MAX_ATTEMPTS bounds it.
            detail = " ".join(log.getvalue().split())[-MAX_ERROR:]
            raise TransientError(f"Apprise could not deliver: {detail or 'no reason given'}")
