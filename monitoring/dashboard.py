"""``GET /``: the operator's dashboard (SPEC §8), kept live by the WebSocket feed."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from monitoring.models import Server


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The user's servers (staff: all) as rendered now; the page's script then follows /ws/status/."""
    servers = Server.objects.for_user(request.user).select_related("server_status").order_by("name", "id")
    return render(request, "dashboard.html", {"servers": servers})
