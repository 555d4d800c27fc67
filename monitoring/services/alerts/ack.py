"""The one-click acknowledge link of a DOWN alert: ``<PUBLIC_URL>/ack/<token>/`` (SPEC §18).

The token is the incident's id signed with SECRET_KEY (``django.core.signing``, its own salt)
and a timestamp: it is the credential, so no login is needed; a forged one, one older than
``MAX_AGE`` or one of a closed incident finds nothing. Opening the link acknowledges nothing
(mail scanners fetch links): the page shows the incident and a button that POSTs.
"""

from __future__ import annotations

from django.core import signing

from core.links import absolute_url
from monitoring.models import Incident

SALT = "pulseguard.incident-ack"
#: How long a link works: longer than any outage anyone still acknowledges.
MAX_AGE_SECONDS = 30 * 24 * 3600


def ack_token(incident: Incident) -> str:
    return signing.dumps(incident.pk, salt=SALT, compress=False)


def ack_url_for(incident: Incident) -> str:
    """The absolute ack link of ``incident`` (its page says what it is about)."""
    return absolute_url(f"/ack/{ack_token(incident)}/")


def incident_for_token(token: str) -> Incident | None:
    """The open incident ``token`` names; None for a forged, expired or malformed token or a closed incident."""
    try:
        pk = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(pk, int) or isinstance(pk, bool):
        return None
    return Incident.objects.open().select_related("server").filter(pk=pk).first()
