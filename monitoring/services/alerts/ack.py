"""The one-click acknowledge link of a DOWN alert: ``<PUBLIC_URL>/ack/<token>/`` (SPEC §18).

The token is the incident's id signed with SECRET_KEY (``django.core.signing``, its own salt):
it is the credential, so no login is needed; a forged one, one of an incident that opened more
than ``MAX_AGE_SECONDS`` ago, or one of a closed incident finds nothing. The same incident always
gets the same token, so every attempt of one alert has the same body (SPEC §23). Opening the link acknowledges nothing
(mail scanners fetch links): the page shows the incident and a button that POSTs.
"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.utils import timezone

from core.links import absolute_url
from monitoring.models import Incident

SALT = "pulseguard.incident-ack"
#: How long a link works: longer than any outage anyone still acknowledges.
MAX_AGE_SECONDS = 30 * 24 * 3600


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def ack_token(incident: Incident) -> str:
    return _signer().sign_object(incident.pk)


def ack_url_for(incident: Incident) -> str:
    """The absolute ack link of ``incident`` (its page says what it is about)."""
    return absolute_url(f"/ack/{ack_token(incident)}/")


def incident_for_token(token: str) -> Incident | None:
    """The open incident ``token`` names; None for a forged, expired or malformed token or a closed incident."""
    try:
        pk = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        return None
    if not isinstance(pk, int) or isinstance(pk, bool):
        return None
    oldest = timezone.now() - timedelta(seconds=MAX_AGE_SECONDS)
    return Incident.objects.open().select_related("server").filter(pk=pk, started_at__gte=oldest).first()
