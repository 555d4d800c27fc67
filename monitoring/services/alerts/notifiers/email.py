"""E-mail through Django's mail framework (EMAIL_* settings; the console backend in development)."""

from __future__ import annotations

import smtplib
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives

from monitoring.choices import NotificationType
from monitoring.services.alerts.notifiers.base import Notifier, PermanentError, TransientError
from monitoring.services.alerts.notifiers.messages import notice_for

if TYPE_CHECKING:
    from monitoring.models import NotificationConfig, NotificationDelivery


class EmailNotifier(Notifier):
    notification_type = NotificationType.EMAIL

    def receiver_host(self, config: NotificationConfig) -> str:
        return settings.EMAIL_HOST  # every message goes through the one SMTP server

    def send(self, delivery: NotificationDelivery) -> None:
        notice = notice_for(delivery)
        # A config's own body_template is the whole (plain-text) mail.
        own_body = bool(delivery.config.body_template)
        message = EmailMultiAlternatives(
            subject=notice.subject,
            body=notice.message if own_body else notice.render("email.txt"),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.config.recipient],
        )
        if not own_body:
            message.attach_alternative(notice.render("email.html"), "text/html")
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPConnectError as exc:
            raise TransientError(f"SMTP connect failed: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = f"SMTP refused the recipient: {exc.recipients}"
            # 5xx is "no such mailbox"; 4xx is "try later" (greylisting, a full mailbox).
            raise (PermanentError if all(code >= 500 for code in codes) else TransientError)(detail) from exc
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise (PermanentError if exc.smtp_code >= 500 else TransientError)(detail) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"{exc.__class__.__name__}: {exc}") from exc
        except (BadHeaderError, ValueError) as exc:
            raise PermanentError(f"{exc.__class__.__name__}: {exc}") from exc
