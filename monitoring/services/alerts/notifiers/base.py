"""The one interface every channel implements, and the errors that tell the sender what next.

A notifier's ``send(delivery)`` returns when the receiver accepted the alert and raises
``TransientError`` when a later retry can help (timeouts, refused connections, 5xx, 429)
or ``PermanentError`` when it cannot (a 4xx, a refused private address, a bad setting).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import requests
from django.conf import settings

from monitoring.services import net
from monitoring.validators import SERVICE_BASE_URLS

if TYPE_CHECKING:
    from monitoring.models import NotificationConfig, NotificationDelivery

# Answers that say "try again later" rather than "this request is wrong".
RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_ERROR_BODY = 200


class NotifyError(Exception):
    """Sending failed; ``retryable`` says whether a later attempt can succeed."""

    retryable: ClassVar[bool] = True


class TransientError(NotifyError):
    retryable = True


class PermanentError(NotifyError):
    retryable = False


class Notifier(ABC):
    """One channel. Subclasses set ``notification_type`` and implement ``send``."""

    notification_type: ClassVar[str]

    @abstractmethod
    def send(self, delivery: NotificationDelivery) -> None:
        """Deliver one alert to ``delivery.config.recipient``; raise a NotifyError on failure."""

    def receiver_host(self, config: NotificationConfig) -> str:
        """The host that receives ``config``'s alerts: the sender bounds how many go to one at once."""
        return (urlsplit(config.recipient).hostname or "").lower()


class ServiceNotifier(Notifier):
    """A service with an API of its own at ``config.api_base_url`` (SPEC §18), or its default root."""

    def base_url(self, config: NotificationConfig) -> str:
        return (config.api_base_url or SERVICE_BASE_URLS.get(self.notification_type, "")).rstrip("/")

    def receiver_host(self, config: NotificationConfig) -> str:
        return (urlsplit(self.base_url(config)).hostname or "").lower()


def post(
    url: str,
    *,
    data: bytes | str | None = None,
    json: object | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    method: str = "POST",
    redact: str = "",
) -> net.HttpResponse:
    """POST (or ``method``) through ``net.http_request`` and turn every failure into a NotifyError.

    Redirects are not followed (``net.http_request`` follows none): a webhook that moved
    answers 3xx, and following it with a GET would drop the alert's body, so the operator is
    told to use the final URL. ``redact`` is a credential inside ``url`` (Telegram's bot
    token): an error message, kept as the delivery's ``last_error``, never shows it.
    """
    try:
        return _send(url, data=data, json=json, headers=headers, auth=auth, method=method)
    except NotifyError as exc:
        if redact and redact in str(exc):
            raise type(exc)(str(exc).replace(redact, "…")) from None
        raise


def _send(
    url: str,
    *,
    data: bytes | str | None,
    json: object | None,
    headers: dict[str, str] | None,
    auth: tuple[str, str] | None,
    method: str,
) -> net.HttpResponse:
    try:
        response = net.http_request(
            method,
            url,
            timeout=settings.NOTIFICATION_TIMEOUT,
            data=data,
            json=json,
            headers=headers,
            auth=auth,
        )
    except net.PrivateAddressError as exc:
        raise PermanentError(str(exc)) from exc  # "refused: <host> resolves to a private …"
    except requests.Timeout as exc:
        raise TransientError(f"no answer within {settings.NOTIFICATION_TIMEOUT}s: {net.reason(exc)}") from exc
    except requests.ConnectionError as exc:
        raise TransientError(f"connection failed: {net.reason(exc)}") from exc
    except (requests.RequestException, ValueError) as exc:
        # An invalid URL or schema: no retry will fix it.
        raise PermanentError(f"{exc.__class__.__name__}: {net.reason(exc)}") from exc
    except OSError as exc:
        # The name did not resolve (net.resolve: "could not resolve <host>: …"), or the socket
        # failed before requests saw it.
        raise TransientError(f"connection failed: {exc}") from exc
    check_response(response)
    return response


def check_response(response: net.HttpResponse) -> None:
    """Accept 2xx; 408, 425, 429 and 5xx are worth a retry; anything else is not."""
    code = response.status_code
    if 200 <= code < 300:
        return
    snippet = response.body.strip()[:MAX_ERROR_BODY]
    detail = f"HTTP {code}" + (f": {snippet}" if snippet else "")
    if code in RETRYABLE_STATUS or code >= 500:
        raise TransientError(detail)
    if 300 <= code < 400:
        raise PermanentError(f"{detail} (redirect not followed; use the final URL)")
    raise PermanentError(detail)
