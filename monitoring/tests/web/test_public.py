"""Status pages (SPEC §15): owner-scoped CRUD, the public page and JSON, what they never show, caching."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.choices import PingStatus
from monitoring.models import Incident, StatusChange, StatusPage
from monitoring.services.engine import checks
from monitoring.services.engine.probes import ProbeOutcome
from monitoring.tests.factories import make_outcome, make_ping, make_server
from tests.crud import CrudCases

pytestmark = pytest.mark.django_db

SECRET_HOST = "secret-internal-host.example.net"
SECRET_ERROR = "connection refused by hidden-backend-42"


class TestStatusPageCrud(CrudCases):
    url = "/api/status-pages/"
    model = StatusPage
    update_payload = {"title": "Renamed"}

    def make(self, owner):
        return StatusPage.objects.create(owner=owner, slug=f"page-{owner.username}", title="Status")

    def create_payload(self, owner):
        return {"slug": f"new-{owner.username}", "title": "New", "servers": [make_server(owner).pk]}


def test_another_users_server_in_servers_is_refused(alice_client, charlie):
    theirs = make_server(charlie)
    r = alice_client.post("/api/status-pages/", {"slug": "mine", "title": "T", "servers": [theirs.pk]}, format="json")
    assert r.status_code == 400 and "servers" in r.json()
    assert not StatusPage.objects.exists()


@pytest.mark.parametrize("slug", ["Upper", "has space", "", "a" * 61, "under_score", "dot.dot"])
def test_a_bad_slug_is_refused(alice_client, slug):
    r = alice_client.post("/api/status-pages/", {"slug": slug, "title": "T"}, format="json")
    assert r.status_code == 400 and "slug" in r.json()


def test_slugs_are_unique_across_users(alice_client, charlie):
    StatusPage.objects.create(owner=charlie, slug="taken", title="T")
    r = alice_client.post("/api/status-pages/", {"slug": "taken", "title": "T"}, format="json")
    assert r.status_code == 400 and "slug" in r.json()


@pytest.fixture
def public_page(alice):
    """A public page with one server picked by id and one by tag, that has failed with a secret error."""
    picked = make_server(alice, name="Shop", host=SECRET_HOST, port=8443, path="/internal/health")
    tagged = make_server(alice, name="API", host=SECRET_HOST, tags=["public"])
    make_server(alice, name="Not shown", host="other.example.net")
    checks.record_outcome(picked, make_outcome(ok=True))
    bad = ProbeOutcome(status=PingStatus.FAILURE, status_code=500, error_message=SECRET_ERROR)
    checks.record_outcome(tagged, bad)
    page = StatusPage.objects.create(
        owner=alice, slug="acme", title="Acme status", is_public=True, tags=["public"], show_response_times=True
    )
    page.servers.add(picked)
    return page


def assert_nothing_secret(text: str, alice) -> None:
    for secret in (SECRET_HOST, SECRET_ERROR, "8443", "/internal/health", "HTTP 500", alice.username, alice.email):
        assert secret not in text, secret


def test_the_public_page_shows_names_and_statuses_and_nothing_secret(public_page, alice):
    r = Client().get("/status/acme/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Acme status" in html and "Shop" in html and "API" in html and "Not shown" not in html
    assert '<span class="status down">down</span>' in html and '<span class="status up">up</span>' in html
    assert html.count('class="day ') == 2 * 90
    assert_nothing_secret(html, alice)


def test_the_summary_json_holds_only_safe_fields(public_page, alice):
    r = Client().get("/api/status-pages/acme/summary/")
    assert r.status_code == 200
    body = r.json()
    assert [s["name"] for s in body["servers"]] == ["API", "Shop"]
    assert set(body["servers"][0]) == {"name", "group", "status", "uptime", "response_time", "days"}
    assert set(body["servers"][0]["uptime"]) == {"24h", "7d", "30d", "90d"}
    assert body["servers"][0]["uptime"]["24h"] == 0.0 and body["servers"][1]["uptime"]["24h"] == 100.0
    assert len(body["servers"][0]["days"]) == 90 and body["servers"][0]["days"][-1]["checks"] == 1
    assert body["status"] == "down" and body["maintenance"] == []
    assert [set(i) for i in body["incidents"]] == [{"server", "started_at", "ended_at", "duration_seconds"}]
    assert_nothing_secret(json.dumps(body), alice)


def test_response_times_are_hidden_unless_the_page_shows_them(public_page):
    assert "response_time" in Client().get("/api/status-pages/acme/summary/").json()["servers"][0]
    public_page.show_response_times = False
    public_page.save()  # and clears the cached summary
    body = Client().get("/api/status-pages/acme/summary/").json()
    assert all("response_time" not in s for s in body["servers"])


def test_a_private_page_is_404_except_for_its_owner(public_page, alice, charlie):
    public_page.is_public = False
    public_page.save()
    assert Client().get("/status/acme/").status_code == 404
    assert Client().get("/api/status-pages/acme/summary/").status_code == 404
    stranger = Client()
    stranger.force_login(charlie)
    assert stranger.get("/status/acme/").status_code == 404
    owner = Client()
    owner.force_login(alice)
    assert owner.get("/status/acme/").status_code == 200
    assert owner.get("/api/status-pages/acme/summary/").status_code == 200


def test_an_unknown_slug_is_404(db):
    assert Client().get("/status/nope/").status_code == 404
    assert Client().get("/api/status-pages/nope/summary/").status_code == 404


def test_a_burst_of_anonymous_visitors_reaches_the_database_once(public_page):
    client = Client()
    with CaptureQueriesContext(connection) as first:
        assert client.get("/status/acme/").status_code == 200
    assert len(first) > 0
    with CaptureQueriesContext(connection) as rest:
        for _ in range(20):
            assert client.get("/status/acme/").status_code == 200
            assert client.get("/api/status-pages/acme/summary/").status_code == 200
    assert len(rest) == 0, [q["sql"] for q in rest]


def test_the_summary_is_rebuilt_when_the_page_changes(public_page, alice_client):
    assert Client().get("/api/status-pages/acme/summary/").json()["title"] == "Acme status"
    r = alice_client.patch(f"/api/status-pages/{public_page.pk}/", {"title": "Renamed"}, format="json")
    assert r.status_code == 200
    assert Client().get("/api/status-pages/acme/summary/").json()["title"] == "Renamed"


def test_incidents_of_the_last_90_days_are_listed_older_ones_not(public_page, alice):
    server = public_page.servers.get()
    old = timezone.now() - timedelta(days=120)
    change = StatusChange.objects.create(server=server, previous_status="up", status="down", changed_at=old)
    Incident.objects.create(
        server=server, started_at=old, ended_at=old + timedelta(hours=1), duration_seconds=3600, opening_change=change
    )
    body = Client().get("/api/status-pages/acme/summary/").json()
    assert [i["server"] for i in body["incidents"]] == ["API"]  # API's open incident; Shop's is too old


def test_the_daily_bar_counts_each_day(public_page):
    server = public_page.servers.get()
    make_ping(server, status="failure", check_timestamp=timezone.now() - timedelta(days=2))
    public_page.save()
    days = next(s for s in Client().get("/api/status-pages/acme/summary/").json()["servers"] if s["name"] == "Shop")[
        "days"
    ]
    assert days[-3]["checks"] == 1 and days[-3]["uptime_percentage"] == 0.0
    assert days[-1]["uptime_percentage"] == 100.0 and days[0]["checks"] == 0


def test_building_a_summary_costs_the_same_queries_for_one_server_or_many(alice):
    from monitoring.services.statuspages import build_summary

    page = StatusPage.objects.create(owner=alice, slug="many", title="T", is_public=True, tags=["fleet"])

    def cost() -> int:
        with CaptureQueriesContext(connection) as captured:
            build_summary(page)
        return len(captured)

    checks.record_outcome(make_server(alice, name="s0", tags=["fleet"]), make_outcome(ok=False))
    one = cost()
    for n in range(1, 6):
        checks.record_outcome(make_server(alice, name=f"s{n}", tags=["fleet"]), make_outcome(ok=n % 2 == 0))
    assert cost() == one


def test_the_status_page_list_costs_the_same_for_one_page_or_many(alice, alice_client):
    def cost() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_client.get("/api/status-pages/").status_code == 200
        return len(captured)

    servers = [make_server(alice, name=f"s{i}") for i in range(3)]
    StatusPage.objects.create(owner=alice, slug="p0", title="T").servers.set(servers)
    one = cost()
    for n in range(1, 5):
        StatusPage.objects.create(owner=alice, slug=f"p{n}", title="T").servers.set(servers)
    assert cost() == one


def test_the_page_script_reads_only_the_summary(public_page):
    html = Client().get("/status/acme/").content.decode()
    assert 'data-summary-url="/api/status-pages/acme/summary/"' in html
    assert "/ws/status/" not in html and "/api/events/" not in html


def test_the_page_shows_active_and_upcoming_maintenance_of_its_servers_only(public_page, alice, charlie):
    from monitoring.models import MaintenanceWindow

    now = timezone.now()
    shop = public_page.servers.get()
    active = MaintenanceWindow.objects.create(
        owner=alice, name="Database upgrade", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    )
    active.servers.add(shop)
    MaintenanceWindow.objects.create(  # reaches the tagged server
        owner=alice, name="Weekly patching", recurrence="weekly", weekdays=list(range(7)),
        start_time=(now + timedelta(hours=3)).time().replace(second=0, microsecond=0), duration_minutes=30,
        tags=["public"],
    )  # fmt: skip
    past = MaintenanceWindow.objects.create(
        owner=alice, name="Done already", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1)
    )
    past.servers.add(shop)
    off = MaintenanceWindow.objects.create(
        owner=alice, name="Switched off", enabled=False, starts_at=now, ends_at=now + timedelta(hours=1)
    )
    off.servers.add(shop)
    other = MaintenanceWindow.objects.create(
        owner=alice, name="Another server", starts_at=now, ends_at=now + timedelta(hours=1)
    )
    other.servers.add(make_server(alice, name="Elsewhere"))
    body = Client().get("/api/status-pages/acme/summary/").json()
    assert [(m["name"], m["active"]) for m in body["maintenance"]] == [
        ("Database upgrade", True),
        ("Weekly patching", False),
    ]
    assert all(set(m) == {"name", "starts_at", "ends_at", "active"} for m in body["maintenance"])
    assert body["maintenance"][0]["ends_at"] == active.ends_at.isoformat()
    html = Client().get("/status/acme/").content.decode()
    assert "Database upgrade" in html and "in progress" in html and "Weekly patching" in html and "scheduled" in html
    assert "Done already" not in html and "Switched off" not in html and "Another server" not in html
    assert_nothing_secret(html, alice)


def test_a_page_with_no_maintenance_hides_the_section(public_page):
    html = Client().get("/status/acme/").content.decode()
    assert '<section id="maintenance-section" hidden>' in html


# --- what changes a page shows at once (SPEC §23) ------------------------------------------


def summary() -> dict:
    return Client().get("/api/status-pages/acme/summary/").json()


def test_a_window_created_for_a_shown_server_is_on_the_cached_page_at_once(public_page, alice_client):
    assert summary()["maintenance"] == []  # cached now
    shop = public_page.servers.get()
    now = timezone.now()
    r = alice_client.post(
        "/api/maintenance-windows/",
        {
            "name": "Database upgrade",
            "servers": [shop.pk],
            "starts_at": (now + timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    assert [m["name"] for m in summary()["maintenance"]] == ["Database upgrade"]
    later = {"ends_at": (now + timedelta(hours=3)).isoformat()}
    assert alice_client.patch(f"/api/maintenance-windows/{r.json()['id']}/", later, format="json").status_code == 200
    assert summary()["maintenance"][0]["ends_at"] == (now + timedelta(hours=3)).isoformat()


def test_a_window_ended_or_deleted_leaves_the_cached_page_at_once(public_page, alice):
    from monitoring.models import MaintenanceWindow

    now = timezone.now()
    window = MaintenanceWindow.objects.create(
        owner=alice, name="Upgrade", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    )
    window.servers.add(public_page.servers.get())
    assert [m["name"] for m in summary()["maintenance"]] == ["Upgrade"]
    window.ends_at = now - timedelta(seconds=1)
    window.save()
    assert summary()["maintenance"] == []
    window.ends_at = now + timedelta(hours=1)
    window.save()
    assert len(summary()["maintenance"]) == 1
    window.delete()
    assert summary()["maintenance"] == []


def test_a_server_removed_renamed_or_deleted_shows_on_the_cached_page_at_once(public_page, alice, alice_client):
    assert [s["name"] for s in summary()["servers"]] == ["API", "Shop"]
    shop = public_page.servers.get()
    public_page.servers.remove(shop)
    assert [s["name"] for s in summary()["servers"]] == ["API"]
    api = next(s for s in public_page.shown_servers())
    assert alice_client.patch(f"/api/servers/{api.pk}/", {"name": "Public API"}, format="json").status_code == 200
    assert [s["name"] for s in summary()["servers"]] == ["Public API"]
    assert alice_client.delete(f"/api/servers/{api.pk}/").status_code == 204
    assert summary()["servers"] == []


def test_a_status_change_shows_on_the_cached_page_at_once(public_page, django_capture_on_commit_callbacks):
    assert summary()["status"] == "down"
    tagged = next(s for s in public_page.shown_servers() if s.name == "API")
    with django_capture_on_commit_callbacks(execute=True):
        checks.record_outcome(tagged, make_outcome(ok=True))
    body = summary()
    assert body["status"] == "up" and {s["status"] for s in body["servers"]} == {"up"}


def test_a_page_made_private_or_created_shows_at_once(public_page, alice_client):
    assert Client().get("/api/status-pages/new-page/summary/").status_code == 404  # cached as unknown
    r = alice_client.post("/api/status-pages/", {"slug": "new-page", "title": "New", "is_public": True}, format="json")
    assert r.status_code == 201
    assert Client().get("/api/status-pages/new-page/summary/").status_code == 200
    assert Client().get("/status/acme/").status_code == 200
    r = alice_client.patch(f"/api/status-pages/{public_page.pk}/", {"is_public": False}, format="json")
    assert r.status_code == 200
    assert Client().get("/status/acme/").status_code == 404
    assert Client().get("/api/status-pages/acme/summary/").status_code == 404


def test_another_owners_changes_leave_a_cached_page_cached(public_page, charlie):
    assert summary()["title"] == "Acme status"
    make_server(charlie, name="theirs", tags=["public"])
    with CaptureQueriesContext(connection) as captured:
        assert summary()["title"] == "Acme status"
    assert len(captured) == 0, [q["sql"] for q in captured]


@pytest.mark.django_db(transaction=True)
def test_the_page_and_its_badges_are_cached_where_every_web_process_reads_them(alice, alice_client):
    """The production caches (database, Redis) are shared: a change made by one process (here
    another thread, on its own connection) is what the next reader of any process sees."""
    import threading

    from django.core.cache import caches
    from django.test import override_settings

    with override_settings(CACHES=settings.DATABASE_CACHES):
        caches["default"].clear()
        server = make_server(alice, name="Shop")
        page = StatusPage.objects.create(owner=alice, slug="shared", title="T", is_public=True)
        page.servers.add(server)
        assert Client().get("/api/status-pages/shared/summary/").status_code == 200
        assert Client().get(f"/badge/{server.badge_key}/status.svg").status_code == 200

        def elsewhere() -> None:
            try:
                stored = StatusPage.objects.get(pk=page.pk)
                stored.is_public = False
                stored.save()
            finally:
                connection.close()

        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
        assert Client().get("/api/status-pages/shared/summary/").status_code == 404
        assert Client().get(f"/badge/{server.badge_key}/status.svg").status_code == 404
        caches["default"].clear()


def test_the_page_counts_uptime_as_the_uptime_endpoint_does_after_pruning_too(public_page, alice_client):
    """SPEC §23: the same checks everywhere: checks in maintenance do not count, and hours
    already pruned are read from their rollups (the 90d figure and bars outlive raw retention)."""
    from monitoring.services.history.retention import prune

    shop = public_page.servers.get()
    now = timezone.now()
    make_ping(shop, PingStatus.FAILURE, maintenance=True, check_timestamp=now - timedelta(minutes=5))
    old = (now - timedelta(days=40)).replace(hour=12, minute=0, second=0, microsecond=0)
    make_ping(shop, PingStatus.FAILURE, check_timestamp=old)
    make_ping(shop, check_timestamp=old + timedelta(minutes=10))
    before = next(s for s in summary()["servers"] if s["name"] == "Shop")
    prune(30, now=now)
    public_page.save()
    after = next(s for s in summary()["servers"] if s["name"] == "Shop")
    assert after == before
    for window in ("24h", "30d", "90d"):
        up = alice_client.get(f"/api/servers/{shop.pk}/uptime/?window={window}").json()
        assert after["uptime"][window] == up["uptime_percentage"], window
    assert after["uptime"]["24h"] == 100.0 and after["uptime"]["90d"] == pytest.approx(200 / 3, abs=0.001)
    day = timezone.localdate(old).isoformat()
    assert [(d["checks"], d["uptime_percentage"]) for d in after["days"] if d["date"] == day] == [(2, 50.0)]


def test_deleting_an_account_renews_its_pages_once_not_once_per_server(public_page, alice, monkeypatch):
    from django.db import transaction

    from monitoring.models import statuspages

    for n in range(30):
        make_server(alice, name=f"extra-{n}")
    summary()  # built: the next change renews again
    renewals: list[set[int]] = []
    renew = statuspages._renew
    monkeypatch.setattr(statuspages, "_renew", lambda teams: renewals.append(set(teams)) or renew(teams))
    owner = alice.personal_team.pk  # versions are per team (SPEC §17)
    with transaction.atomic():
        alice.delete()
    assert owner in set().union(*renewals) <= {owner, statuspages.NOBODY} and len(renewals) <= 2, renewals
    assert Client().get("/api/status-pages/acme/summary/").status_code == 404


def test_a_window_that_ends_by_the_clock_leaves_the_cached_page_within_2_s(public_page, alice):
    import time

    from monitoring.models import MaintenanceWindow

    now = timezone.now()
    window = MaintenanceWindow.objects.create(
        owner=alice, name="Short", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(seconds=1)
    )
    window.servers.add(public_page.servers.get())
    assert [m["active"] for m in summary()["maintenance"]] == [True]
    time.sleep(2.1)  # nothing was written meanwhile: only the clock moved
    assert summary()["maintenance"] == []
