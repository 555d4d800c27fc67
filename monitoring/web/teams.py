"""The web UI's current team (SPEC §17): every page's header lists the user's teams; choosing
one filters the lists and is the ``team`` of new objects. Kept in the session; "all teams"
(no choice) shows every team's objects, and new objects go to the personal team."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from authentication.models import Team

SESSION_KEY = "pulseguard_team"


def my_teams(request: HttpRequest) -> list[Team]:
    """The teams the signed-in user is in (read once per request)."""
    cached = getattr(request, "_pulseguard_teams", None)
    if cached is None:
        user = request.user
        cached = list(Team.objects.filter(memberships__user=user).order_by("personal_for", "name", "slug"))
        request._pulseguard_teams = cached  # type: ignore[attr-defined]
    return cached


def current_team(request: HttpRequest) -> Team | None:
    """The team chosen in the header, if the user is still in it; None for "all teams"."""
    slug = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not slug or not request.user.is_authenticated:
        return None
    return next((team for team in my_teams(request) if team.slug == slug), None)


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context for every page: ``teams`` and ``current_team``."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"teams": my_teams(request), "current_team": current_team(request)}


@login_required
@require_POST
def switch(request: HttpRequest) -> HttpResponse:
    """``POST /switch-team/`` ``team=<slug>`` (empty: all teams), then back where the user was."""
    slug = request.POST.get("team", "")
    if slug and any(team.slug == slug for team in my_teams(request)):
        request.session[SESSION_KEY] = slug
    else:
        request.session.pop(SESSION_KEY, None)
    back = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "/"
    return HttpResponseRedirect(back)
