"""Incident posts, announcements, history and feeds on the public status page (SPEC §21)."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import Announcement, MaintenanceWindow, StatusPage
from monitoring.services import statuspages
from monitoring.services.engine import checks
from monitoring.services.statuspage_posts import add_update, create_post
from monitoring.tests.factories import make_outcome, make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(alice):
    page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True)
    page.servers.add(make_server(alice, name="api"))
    return page


@pytest.fixture
def posts(page):
    server = page.servers.get()
    open_post = create_post(
        page,
        title="Slow logins",
        impact="major",
        status="investigating",
        message="Looking into **it**",
        servers=[server],
    )
    add_update(open_post, status="identified", message="A bad *deploy*")
    old = create_post(
        page, title="Old outage", impact="critical", status="investigating", message="Down <script>x</script>"
    )
    add_update(old, status="resolved", message="Back [up](https://example.com/pm)")
    return open_post, old


def test_the_page_shows_open_posts_with_their_latest_update_and_announcements(page, posts):
    Announcement.objects.create(page=page, notice="Upgrade *tonight*")
    Announcement.objects.create(page=page, notice="Ended", ends_at=timezone.now() - timedelta(minutes=1))
    html = Client().get("/status/acme/").content.decode()
    assert "Slow logins" in html and "A bad <em>deploy</em>" in html
    assert "Looking into" not in html  # only the latest update on the front page
    assert "Old outage" not in html  # resolved: on the history page
    assert '<div class="announcement" data-ends-at="">' in html and "Upgrade <em>tonight</em>" in html
    assert "Ended" not in html
    assert 'href="/status/acme/history/"' in html and 'href="/status/acme/feed.atom"' in html


def test_the_history_page_shows_resolved_posts_with_every_update_and_its_time(posts):
    r = Client().get("/status/acme/history/")
    html = r.content.decode()
    assert r.status_code == 200 and "Old outage" in html and "Slow logins" not in html
    assert 'Back <a href="https://example.com/pm" rel="nofollow noopener noreferrer">up</a>' in html
    assert "Down &lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert html.count('<time datetime="') >= 3  # resolved at, and each of the two updates


def test_a_private_pages_history_and_feeds_are_404(page, posts, alice):
    page.is_public = False
    page.save()
    anonymous = Client()
    for path in ("/status/acme/history/", "/status/acme/feed.atom", "/status/acme/feed.rss"):
        assert anonymous.get(path).status_code == 404
    owner = Client()
    owner.force_login(alice)
    assert owner.get("/status/acme/history/").status_code == 200
    assert owner.get("/status/acme/feed.atom").status_code == 404  # a feed reader has no login


def _maintenance(alice, page):
    now = timezone.now()
    MaintenanceWindow.objects.create(
        owner=alice, name="Patch night", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    ).servers.add(page.servers.get())
    MaintenanceWindow.objects.create(
        owner=alice, name="DB upgrade", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=1)
    ).servers.add(page.servers.get())


def test_the_atom_feed_is_valid_and_carries_posts_updates_and_maintenance(alice, page, posts):
    _maintenance(alice, page)
    r = Client().get("/status/acme/feed.atom")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    titles = [e.title for e in feed.entries]
    assert all(e.get("id") and e.get("title") and e.get("updated") for e in feed.entries)
    assert {"Slow logins — Investigating", "Slow logins — Identified", "Old outage — Resolved"} <= set(titles)
    assert "Maintenance in progress: Patch night" in titles and "Maintenance scheduled: DB upgrade" in titles
    assert len({e.id for e in feed.entries}) == len(feed.entries)
    assert not any("is down" in t or "was down" in t for t in titles)  # publish_outages is off


def test_the_rss_feed_is_valid_and_carries_outages_when_the_page_publishes_them(alice, page, posts):
    page.publish_outages = True
    page.save()
    checks.record_outcome(page.servers.get(), make_outcome(ok=False))  # an automatic incident
    _maintenance(alice, page)
    r = Client().get("/status/acme/feed.rss")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/rss+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "rss20"
    assert all(e.get("title") and e.get("id") and e.get("published") for e in feed.entries)  # guid, pubDate
    titles = [e.title for e in feed.entries]
    assert "api is down" in titles and "Maintenance scheduled: DB upgrade" in titles
    assert "Old outage — Resolved" in titles


def test_feeds_follow_a_new_update_at_once(page, posts):
    client = Client()
    assert "Slow logins — Monitoring" not in client.get("/status/acme/feed.atom").content.decode()  # cached now
    add_update(posts[0], status="monitoring", message="Watching")
    assert "Slow logins — Monitoring" in client.get("/status/acme/feed.atom").content.decode()


def test_every_public_surface_names_servers_through_public_server_name(page, posts, monkeypatch):
    page.publish_outages = True
    page.save()
    checks.record_outcome(page.servers.get(), make_outcome(ok=False))
    monkeypatch.setattr(statuspages, "public_server_name", lambda page, server: f"Public {server.pk}")
    pk = page.servers.get().pk
    summary = Client().get("/api/status-pages/acme/summary/").json()
    assert summary["servers"][0]["name"] == f"Public {pk}"
    assert summary["incidents"][0]["server"] == f"Public {pk}"
    assert summary["posts"][0]["servers"] == [f"Public {pk}"]
    for path in ("/status/acme/", "/status/acme/feed.atom", "/status/acme/feed.rss"):
        body = Client().get(path).content.decode()
        assert f"Public {pk}" in body and ">api<" not in body and "api is down" not in body, path


def _logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_operators_posts_page_has_the_forms_for_members_only(alice, charlie, page):
    from authentication.models import Membership, Role, Team

    html = _logged_in(alice).get(f"/status-pages/{page.pk}/").content.decode()
    assert 'id="post-form"' in html and 'id="announcement-form"' in html and 'data-can-change="true"' in html
    assert _logged_in(charlie).get(f"/status-pages/{page.pk}/").status_code == 404  # another team's page
    team = Team.objects.create(name="Acme", slug="acme-team")
    shared = StatusPage.objects.create(owner=alice, team=team, slug="shared", title="Shared")
    Membership.objects.create(team=team, user=charlie, role=Role.VIEWER)
    html = _logged_in(charlie).get(f"/status-pages/{shared.pk}/").content.decode()
    assert 'data-can-change="false"' in html and 'id="post-form"' not in html
    assert Client().get(f"/status-pages/{page.pk}/").status_code == 302  # to the login
