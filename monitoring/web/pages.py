"""The operator's web pages (SPEC §16). Server-rendered shells; their scripts read and write
through the REST API with the session, so every rule and error message is the API's own."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Prefetch, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from api.filtersets import ServerFilterSet
from authentication.models import Role
from authentication.teams import may, two_factor_missing, without_two_factor_blocked
from core.links import absolute_url
from monitoring.choices import Status
from monitoring.models import Server, ServerLocation, StatusChange, StatusPage
from monitoring.services.locations import servers as server_locations
from monitoring.web.teams import current_team

PAGE_SIZE = 100
LATEST_CHANGES = 10
# The counts on top of the dashboard, in the order an operator scans them (as Uptime Kuma's).
COUNTED = (Status.UP, Status.DOWN, Status.DEGRADED, Status.MAINTENANCE, Status.UNKNOWN, Status.PAUSED)
# "Sort by status" puts what needs attention first.
SEVERITY = (Status.DOWN, Status.DEGRADED, Status.UNKNOWN, Status.MAINTENANCE, Status.PAUSED, Status.UP)
# ?sort= keys → (column label, field); a leading "-" reverses. Servers never checked sort last
# either way; ties go by name.
SORTS = {
    "name": ("Server", "name"),
    "status": ("Status", "severity"),
    "response": ("Response", "server_status__last_response_time"),
    "last_check": ("Last check", "server_status__last_check"),
}

# The toolbar's Sort menu (the headings sort too, but the phone layout has none).
SORT_CHOICES = [
    ("name", "Name"),
    ("status", "Status: down first"),
    ("-response", "Response: slowest first"),
    ("response", "Response: fastest first"),
    ("-last_check", "Last check: newest first"),
    ("last_check", "Last check: oldest first"),
]


def _sorted(servers: QuerySet[Server], sort: str) -> tuple[QuerySet[Server], str]:
    """The servers in the order ``sort`` names (an unknown key sorts by name), and the key applied."""
    key = sort.removeprefix("-")
    if key not in SORTS:
        return servers.order_by("name", "id"), "name"
    field = F(SORTS[key][1])
    if key == "status":
        servers = servers.annotate(
            severity=Case(
                *[When(status=status, then=Value(rank)) for rank, status in enumerate(SEVERITY)],
                default=Value(len(SEVERITY)),
                output_field=IntegerField(),
            )
        )
    first = field.desc(nulls_last=True) if sort.startswith("-") else field.asc(nulls_last=True)
    return servers.order_by(first, "name", "id"), sort


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """``/``: the servers of the user's teams (staff: all; with a team chosen in the header, its
    own), filtered and paginated server-side so that the first paint stays fast at thousands of
    servers; the script then follows /ws/status/."""
    # Not the servers of a team that requires two-factor sign-in the user lacks (SPEC §17).
    owned = without_two_factor_blocked(Server.objects.for_user(request.user), request.user)
    team = current_team(request)
    if team is not None:
        owned = owned.in_team(team)
    servers = owned.select_related("server_status")
    # The filter form sends empty fields ("any status"); they mean no filter, not a bad value.
    params = request.GET.copy()
    for key in [k for k, v in params.items() if v == "" or k == "sort"]:
        params.pop(key)
    filters = ServerFilterSet(params, queryset=servers)
    queryset = filters.qs if filters.is_valid() else servers.none()
    queryset, sort = _sorted(queryset, request.GET.get("sort", ""))
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    # Counts per status over every server of the user (not only this page or filter): each is
    # a link that filters the list to that status.
    by_status = dict(owned.order_by().values_list("status").annotate(n=Count("id")))
    status_filter = request.GET.get("status", "")
    unfiltered = request.GET.copy()
    for key in ("page", "status"):
        unfiltered.pop(key, None)
    counts = [
        {"status": status, "label": status.label, "count": by_status.get(status, 0), "current": status == status_filter}
        for status in COUNTED
    ]
    sorting = request.GET.copy()
    for key in ("page", "sort"):
        sorting.pop(key, None)
    columns = {
        key: {
            "label": label,
            "next": key if sort != key else f"-{key}",
            "current": sort.lstrip("-") == key,
            "descending": sort == f"-{key}",
        }
        for key, (label, _) in SORTS.items()
    }
    changes = (
        without_two_factor_blocked(
            StatusChange.objects.for_user(request.user) if team is None else StatusChange.objects.in_team(team),
            request.user,
        )
        .select_related("server")
        .only("server__name", "previous_status", "status", "changed_at", "message")[:LATEST_CHANGES]
    )
    return render(
        request,
        "dashboard.html",
        {
            "nav": "servers",
            "servers": page.object_list,
            "page": page,
            "query": query.urlencode(),
            "statuses": Status.choices,
            "filters": {k: request.GET.get(k, "") for k in ("search", "status", "tag")},
            "has_any": bool(by_status),
            "counts": counts,
            "total": sum(by_status.values()),
            "unfiltered": unfiltered.urlencode(),
            "sorting": sorting.urlencode(),
            "columns": columns,
            "changes": changes,
            "sort": sort,
            "sort_choices": SORT_CHOICES,
        },
    )


def two_factor_refused(request: HttpRequest) -> HttpResponse:
    """403: the server's team requires two-factor sign-in, which the user has not turned on."""
    message = "This server's team requires two-factor sign-in, and yours is off. Turn it on on your account page."
    return render(request, "two_factor_required.html", {"message": message}, status=403)


@login_required
def server_new(request: HttpRequest) -> HttpResponse:
    context = {"nav": "new", "server": None, "probe_location": settings.PROBE_LOCATION}
    return render(request, "server_form.html", context)


@login_required
def server_edit(request: HttpRequest, pk: int) -> HttpResponse:
    server = get_object_or_404(Server.objects.for_user(request.user), pk=pk)
    if two_factor_missing(request.user, server.team_id):
        return two_factor_refused(request)
    if not may(request.user, server.team_id, Role.MEMBER):
        raise PermissionDenied("You are a viewer in this server's team: you can look, not change.")
    context = {"nav": "servers", "server": server, "probe_location": settings.PROBE_LOCATION}
    return render(request, "server_form.html", context)


@login_required
def server_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rows = Prefetch("location_states", queryset=ServerLocation.objects.select_related("location"))
    found = Server.objects.for_user(request.user).select_related("server_status", "team").prefetch_related(rows)
    server = get_object_or_404(found, pk=pk)
    if two_factor_missing(request.user, server.team_id):
        return two_factor_refused(request)
    can_change = may(request.user, server.team_id, Role.MEMBER)
    # The latest state and response time at each of its locations (SPEC §20).
    locations = [] if server.is_push else server_locations.states(server.server_status)
    context = {"nav": "servers", "server": server, "can_change": can_change, "locations": locations}
    return render(request, "server_detail.html", context)


@login_required
def incidents(request: HttpRequest) -> HttpResponse:
    """The team's incidents, open ones first, each with an Acknowledge button (SPEC §18)."""
    return render(request, "incidents.html", {"nav": "incidents"})


@login_required
def status_pages(request: HttpRequest) -> HttpResponse:
    return render(request, "status_pages.html", {"nav": "pages"})


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The team's notification configs (SPEC §18): list, create, edit, test, attach, delete (all through the API)."""
    return render(request, "notifications.html", {"nav": "notifications"})


@login_required
def status_page_posts(request: HttpRequest, pk: int) -> HttpResponse:
    """``/status-pages/<id>/``: a page's incident posts (write, update, resolve) and announcements."""
    page = get_object_or_404(StatusPage.objects.for_user(request.user), pk=pk)
    if two_factor_missing(request.user, page.team_id):
        return two_factor_refused(request)
    can_change = may(request.user, page.team_id, Role.MEMBER)
    return render(request, "status_page_posts.html", {"nav": "pages", "page": page, "can_change": can_change})


@login_required
def maintenance(request: HttpRequest) -> HttpResponse:
    return render(request, "maintenance.html", {"nav": "maintenance"})


@login_required
def config(request: HttpRequest) -> HttpResponse:
    return render(request, "config.html", {"nav": "config"})


@login_required
def locations(request: HttpRequest) -> HttpResponse:
    """``/locations/`` (SPEC §20): the probe locations, their agents' tokens and the command that
    starts an agent (everything through ``/api/locations/``)."""
    context = {
        "nav": "locations",
        # What an agent's --url is: PUBLIC_URL, else the address this page was asked at.
        "central_url": absolute_url("/", request).rstrip("/"),
        "probe_location": settings.PROBE_LOCATION,
    }
    return render(request, "locations.html", context)
