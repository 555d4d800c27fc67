"""The one-click acknowledge page behind a DOWN alert's link (SPEC §18).

``GET /ack/<token>/`` shows the incident and an Acknowledge button; only the button's POST
acknowledges, so a mail scanner that fetches every link acknowledges nothing. The signed token
is the credential (``services.alerts.ack``): no login, and a forged or expired token or one of
a closed incident answers 404.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from monitoring.services.alerts import escalation
from monitoring.services.alerts.ack import incident_for_token

MAX_NOTE = 1000


@never_cache
@require_http_methods(["GET", "POST"])
def acknowledge(request: HttpRequest, token: str) -> HttpResponse:
    incident = incident_for_token(token)
    if incident is None:
        raise Http404("No open incident has this link.")
    done = False
    if request.method == "POST" and incident.acknowledged_at is None:
        user = request.user if request.user.is_authenticated else None
        by = user.get_username() if user is not None else "the link in an alert"
        note = str(request.POST.get("note", "")).replace("\x00", "")[:MAX_NOTE]
        try:
            incident = escalation.acknowledge(incident.pk, user=user, by=by, note=note)
        except escalation.NotAcknowledgeable as exc:
            raise Http404("The incident is over.") from exc
        done = True
    return render(request, "ack.html", {"incident": incident, "server": incident.server, "done": done})
