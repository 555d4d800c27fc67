"""The operator's web pages (SPEC §16). Server-rendered shells; their scripts read and write
through the REST API with the session, so every rule and error message is the API's own."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from monitoring.choices import Status
from monitoring.filters import ServerFilterSet
from monitoring.models import Server

PAGE_SIZE = 100


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """``/``: the user's servers (staff: all), filtered and paginated server-side so that the
    first paint stays fast at thousands of servers; the script then follows /ws/status/."""
    servers = Server.objects.for_user(request.user).select_related("server_status").order_by("name", "id")
    # The filter form sends empty fields ("any status"); they mean no filter, not a bad value.
    params = request.GET.copy()
    for key in [k for k, v in params.items() if v == ""]:
        params.pop(key)
    filters = ServerFilterSet(params, queryset=servers)
    queryset = filters.qs if filters.is_valid() else servers.none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
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
            "has_any": servers.exists(),
        },
    )


@login_required
def server_new(request: HttpRequest) -> HttpResponse:
    return render(request, "server_form.html", {"nav": "new", "server": None})


@login_required
def server_edit(request: HttpRequest, pk: int) -> HttpResponse:
    server = get_object_or_404(Server.objects.for_user(request.user), pk=pk)
    return render(request, "server_form.html", {"nav": "servers", "server": server})


@login_required
def server_detail(request: HttpRequest, pk: int) -> HttpResponse:
    server = get_object_or_404(Server.objects.for_user(request.user).select_related("server_status"), pk=pk)
    return render(request, "server_detail.html", {"nav": "servers", "server": server})


@login_required
def status_pages(request: HttpRequest) -> HttpResponse:
    return render(request, "status_pages.html", {"nav": "pages"})


@login_required
def maintenance(request: HttpRequest) -> HttpResponse:
    return render(request, "maintenance.html", {"nav": "maintenance"})


@login_required
def config(request: HttpRequest) -> HttpResponse:
    return render(request, "config.html", {"nav": "config"})
