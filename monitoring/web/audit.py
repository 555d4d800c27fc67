"""``/audit/`` (SPEC §17): the audit rows of the teams the user admins or owns, newest first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import APIException

from api.filtersets import AuditEntryFilterSet
from authentication.models import AuditEntry, Team
from authentication.models.audit import admin_team_ids
from monitoring.web.teams import current_team

PAGE_SIZE = 50


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Filtered by ``team`` and ``action`` with the API's filterset, so the rules are the API's:
    a team the user does not admin shows its message and no rows. Without a ``team`` parameter
    the team chosen in the header is the filter, when the user admins it ("all my teams" sends
    an empty one)."""
    rows = AuditEntry.objects.for_admin(request.user).select_related("team")
    teams = Team.objects.order_by("name")
    if not request.user.is_staff:
        teams = teams.filter(pk__in=admin_team_ids(request.user))
    # The filter form sends empty fields ("any"); they mean no filter, not a bad value.
    params = request.GET.copy()
    chosen = current_team(request)
    if "team" not in params and chosen is not None and teams.filter(pk=chosen.pk).exists():
        params["team"] = chosen.slug
    shown = {k: params.get(k, "") for k in ("team", "action")}
    for key in [k for k, v in params.items() if v == "" or k not in ("team", "action")]:
        params.pop(key)
    filters = AuditEntryFilterSet(params, queryset=rows, request=request)
    errors: list[str] = []
    try:  # the team filter's refusals (400, 403) are raised as ``qs`` is built
        queryset = filters.qs if filters.is_valid() else rows.none()
        errors = [str(m) for messages in filters.errors.values() for m in messages]
    except APIException as exc:
        queryset = rows.none()
        detail = exc.detail
        errors = [str(m) for ms in detail.values() for m in ms] if isinstance(detail, dict) else [str(detail)]
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit.html",
        {
            "nav": "audit",
            "page": page,
            "entries": page.object_list,
            "query": query.urlencode(),
            "audit_teams": teams,
            "actions": AuditEntry.Action.choices,
            "filters": shown,
            "errors": errors,
            "admins_any": request.user.is_staff or teams.exists(),
        },
    )
