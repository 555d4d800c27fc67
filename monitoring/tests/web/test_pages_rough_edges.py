"""The operator's web as a new user found it (issue 14, C.14–C.16), server-rendered parts: one way
to write times, durations and uptime; the server page's tags, push and https parts; the
dashboard's counts, sorting and latest changes; sign-up, /config/, maintenance wording, redoc."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import Incident, Server, ServerStatus, StatusChange, StatusPage
from monitoring.services import statuspages
from monitoring.templatetags.pulseguard import duration, local_time, percent
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names(html: str) -> list[str]:
    return re.findall(r'<td class="name"><a href="/servers/\d+/">([^<]+)</a>', html)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (30, "30 s"), (59.4, "59 s"), (90, "2 min"), (300, "5 min"), (3599, "1 h"), (7380, "2 h 3 min"),
     (7200, "2 h"), (86400 + 4 * 3600, "1 d 4 h"), (None, "–")],
)  # fmt: skip
def test_one_duration_rule_writes_an_outage(seconds, text):
    # The same rule as PG.fmtDuration in static/pulseguard/format.js (pinned by the browser test).
    assert duration(seconds) == text


def test_times_are_rendered_as_utc_for_the_browser_to_localise():
    html = local_time(datetime(2026, 12, 3, 11, 52, 9, tzinfo=UTC))
    assert html == '<time datetime="2026-12-03T11:52:09Z" data-local>2026-12-03 11:52:09 UTC</time>'
    assert local_time("2026-12-03T11:52:09.5+00:00").startswith('<time datetime="2026-12-03T11:52:09.500000Z"')
    assert local_time(None) == "never" and percent(99.1234) == "99.12 %" and percent(None) == "–"


def outage(server: Server, seconds: int) -> None:
    ended = timezone.now() - timedelta(hours=1)
    change = StatusChange.objects.create(server=server, previous_status="up", status="down", changed_at=ended)
    Incident.objects.create(
        server=server, started_at=ended - timedelta(seconds=seconds), ended_at=ended, duration_seconds=seconds,
        opening_change=change,
    )  # fmt: skip


def test_the_status_page_writes_durations_times_and_uptime_like_the_operators_pages(alice, monkeypatch):
    server = make_server(alice, name="Shop")
    ServerStatus.objects.filter(server=server).update(status="up")
    outage(server, 30)
    page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True)
    page.servers.add(server)
    summary = statuspages.visible_summary("acme", None)
    summary["servers"][0]["uptime"]["24h"] = 99.98765  # the service rounds to 3 decimals
    monkeypatch.setattr("monitoring.web.public.visible_summary", lambda slug, user: summary)
    html = Client().get("/status/acme/").content.decode()
    assert "for 30 s" in html and "for 0 min" not in html
    assert "24h 99.99 %" in html and "99.988" not in html
    # Every time is a <time data-local> that format.js writes in the browser's zone; no bare "UTC" text.
    assert re.search(r'down <time datetime="[^"]+Z" data-local>', html)
    assert re.search(r'Updated <time datetime="[^"]+Z" data-local>', html)
    assert "pulseguard/format.js" in html


def test_the_server_page_shows_tags_and_local_times(alice):
    server = make_server(alice, name="shop", tags=["prod", "eu west"])
    ServerStatus.objects.filter(server=server).update(last_check=timezone.now())
    html = logged_in(alice).get(f"/servers/{server.pk}/").content.decode()
    assert '<a class="tag" href="/?tag=prod">prod</a>' in html and 'href="/?tag=eu%20west">eu west</a>' in html
    assert re.search(r'<dd id="last-check"><time datetime="[^"]+" data-local>', html)


def test_a_push_servers_page_charts_its_values_not_a_response_time_and_has_no_certificate(alice):
    push = make_server(alice, name="nightly", protocol="push", host="")
    html = logged_in(alice).get(f"/servers/{push.pk}/").content.decode()
    assert "Response time</h2>" not in html and "<th>Value</th>" in html
    assert "Pushed values</h2>" in html and 'aria-label="Pushed value chart"' in html
    assert "Certificate" not in html and "not https" not in html
    plain = make_server(alice, name="plain", protocol="http")
    html = logged_in(alice).get(f"/servers/{plain.pk}/").content.decode()
    assert 'id="chart"' in html and "not https" not in html and 'id="certificate"' not in html
    secure = make_server(alice, name="secure", protocol="https")
    assert 'id="certificate"' in logged_in(alice).get(f"/servers/{secure.pk}/").content.decode()


def test_the_latest_checks_table_wraps_at_phone_width(alice):
    server = make_server(alice)
    html = logged_in(alice).get(f"/servers/{server.pk}/").content.decode()
    assert '<table class="list stack" id="checks"' in html
    css = logged_in(alice).get("/static/pulseguard/app.css")
    assert b"table.list.stack" in b"".join(css.streaming_content)


def statused(owner, name: str, status: str, response: float | None = None, minutes_ago: int | None = None) -> Server:
    server = make_server(owner, name=name)
    Server.objects.filter(pk=server.pk).update(status=status)
    last = timezone.now() - timedelta(minutes=minutes_ago) if minutes_ago is not None else None
    ServerStatus.objects.filter(server=server).update(status=status, last_response_time=response, last_check=last)
    return server


def test_the_dashboard_counts_every_status_and_each_count_filters(alice, charlie):
    statused(alice, "a-up", "up")
    statused(alice, "b-up", "up")
    statused(alice, "c-down", "down")
    statused(alice, "d-paused", "paused")
    statused(charlie, "not-mine", "down")
    html = logged_in(alice).get("/?search=").content.decode()
    counts = dict(re.findall(r'data-status="(\w+)"[^>]*><span class="dot \w+"></span><strong>(\d+)</strong>', html))
    assert counts == {"up": "2", "down": "1", "degraded": "0", "maintenance": "0", "unknown": "0", "paused": "1"}
    link = re.search(r'<a href="\?([^"]*)" data-status="down"', html).group(1).replace("&amp;", "&")
    filtered = logged_in(alice).get(f"/?{link}").content.decode()
    assert names(filtered) == ["c-down"]
    # The counts stay those of the whole fleet while a filter is applied.
    assert re.search(r'data-status="up" ><span class="dot up"></span><strong>2</strong>', filtered)


def test_the_dashboard_sorts_by_status_response_time_and_last_check(alice):
    statused(alice, "up-slow", "up", response=900, minutes_ago=5)
    statused(alice, "down", "down", response=None, minutes_ago=1)
    statused(alice, "up-fast", "up", response=20, minutes_ago=30)
    statused(alice, "never", "unknown")
    client = logged_in(alice)
    assert names(client.get("/?sort=status").content.decode()) == ["down", "never", "up-fast", "up-slow"]
    assert names(client.get("/?sort=-status").content.decode()) == ["up-fast", "up-slow", "never", "down"]
    assert names(client.get("/?sort=response").content.decode()) == ["up-fast", "up-slow", "down", "never"]
    assert names(client.get("/?sort=-response").content.decode()) == ["up-slow", "up-fast", "down", "never"]
    assert names(client.get("/?sort=-last_check").content.decode()) == ["down", "up-slow", "up-fast", "never"]
    assert names(client.get("/?sort=bogus").content.decode()) == ["down", "never", "up-fast", "up-slow"]
    html = client.get("/?sort=response&status=up").content.decode()
    assert names(html) == ["up-fast", "up-slow"]
    # The headings sort (a second click reverses) and keep the filter.
    assert '<th aria-sort="ascending"><a href="?status=up&amp;sort=-response">Response ▲</a></th>' in html
    assert 'href="?status=up&amp;sort=last_check">Last check</a>' in html
    # And a Sort menu in the toolbar, for the phone layout that hides the headings.
    assert '<option value="response" selected>' in html


def test_the_dashboard_lists_the_latest_status_changes(alice, charlie):
    mine = make_server(alice, name="shop")
    theirs = make_server(charlie, name="theirs")
    now = timezone.now()
    for i in range(12):
        StatusChange.objects.create(
            server=mine, previous_status="up", status="down", changed_at=now - timedelta(minutes=i)
        )
    StatusChange.objects.create(server=theirs, previous_status="up", status="down", changed_at=now)
    html = logged_in(alice).get("/").content.decode()
    section = html[html.index('id="changes"') :]
    assert section.count("<li>") == 10 and "theirs" not in section
    assert re.search(r'<li><time datetime="[^"]+" data-local>[^<]+</time> <a href="/servers/\d+/">shop</a>', section)


def test_sign_up_shows_every_fields_error_at_once(alice):
    form = {"username": "alice", "email": "not-an-email", "password": "123", "password2": "321"}
    html = Client().post("/accounts/register/", form).content.decode()
    errors = re.findall(r'<input id="id_(\w+)"[^>]*>\s*((?:<p class="error" role="alert">[^<]+</p>)+)', html)
    assert {field for field, _ in errors} == {"username", "email", "password", "password2"}


def test_the_config_page_mentions_maintenance_windows(alice):
    html = logged_in(alice).get("/config/").content.decode()
    assert "maintenance windows" in html.lower()
    assert "<script>" not in html  # its script is a static file (Content-Security-Policy)


def test_redoc_loads_nothing_from_outside(db):
    html = Client().get("/api/redoc/").content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script>" not in html  # no inline script either
    src = re.search(r'<script src="([^"]+)"></script>', html).group(1)
    bundle = Client().get(src).content
    assert len(bundle) > 100_000 and b"cdn.redoc.ly" not in bundle and b"/favicon.ico" in bundle
