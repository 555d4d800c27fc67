"""Every channel, keyed by notification_type; the model's choices must name exactly these."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import Notifier
from monitoring.services.alerts.notifiers.discord import DiscordNotifier
from monitoring.services.alerts.notifiers.email import EmailNotifier
from monitoring.services.alerts.notifiers.gotify import GotifyNotifier
from monitoring.services.alerts.notifiers.matrix import MatrixNotifier
from monitoring.services.alerts.notifiers.msteams import TeamsNotifier
from monitoring.services.alerts.notifiers.ntfy import NtfyNotifier
from monitoring.services.alerts.notifiers.opsgenie import OpsgenieNotifier
from monitoring.services.alerts.notifiers.pagerduty import PagerDutyNotifier
from monitoring.services.alerts.notifiers.pushover import PushoverNotifier
from monitoring.services.alerts.notifiers.slack import SlackNotifier
from monitoring.services.alerts.notifiers.sms import SmsNotifier
from monitoring.services.alerts.notifiers.telegram import TelegramNotifier
from monitoring.services.alerts.notifiers.via_apprise import AppriseNotifier
from monitoring.services.alerts.notifiers.webhook import WebhookNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    cls.notification_type: cls
    for cls in (
        EmailNotifier,
        WebhookNotifier,
        SmsNotifier,
        DiscordNotifier,
        SlackNotifier,
        AppriseNotifier,
        TelegramNotifier,
        TeamsNotifier,
        PagerDutyNotifier,
        OpsgenieNotifier,
        NtfyNotifier,
        PushoverNotifier,
        GotifyNotifier,
        MatrixNotifier,
    )
}

# The choices live in monitoring.choices (models must not import services); fail at import,
# not at the first alert, if the two ever drift apart.
if set(NOTIFIERS) != set(NotificationType.values):
    raise ImproperlyConfigured(
        f"notifier registry {sorted(NOTIFIERS)} does not match NotificationType {sorted(NotificationType.values)}"
    )


def notifier_for(notification_type: str) -> Notifier:
    """The notifier for a config's type; KeyError for a type nobody implements."""
    return NOTIFIERS[notification_type]()
