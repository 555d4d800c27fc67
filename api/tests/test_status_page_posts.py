"""Incident posts, their updates and announcements of a status page (SPEC §21): the API."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from authentication.models import AuditEntry
from monitoring.models import Announcement, IncidentPost, PageMessage, PostUpdate, StatusPage
from monitoring.services.statuspage_posts import create_post
from monitoring.tests.factories import make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(alice):
    page = StatusPage.objects.create(owner=alice, slug="acme", title="Acme", is_public=True)
    page.servers.add(make_server(alice, name="api"))
    return page


def posts_url(page):
    return f"/api/status-pages/{page.pk}/posts/"


def new_post(alice_client, page, **fields):
    body = {"title": "Slow logins", "impact": "major", "status": "investigating", "message": "Looking *now*"}
    body.update(fields)
    return alice_client.post(posts_url(page), body, format="json")


def test_a_post_is_created_with_its_first_update(alice, alice_client, page):
    server = page.servers.get()
    r = new_post(alice_client, page, servers=[server.pk])
    assert r.status_code == 201, r.content
    post = IncidentPost.objects.get(pk=r.json()["id"])
    assert (post.title, post.impact, post.status, post.resolved_at) == ("Slow logins", "major", "investigating", None)
    assert list(post.servers.all()) == [server]
    assert list(post.updates.values_list("status", "message")) == [("investigating", "Looking *now*")]
    body = r.json()
    assert body["status"] == "investigating" and body["resolved_at"] is None
    assert [u["message"] for u in body["updates"]] == ["Looking *now*"] and body["updates"][0]["created_at"]
    assert AuditEntry.objects.filter(action="create", object_type="incidentpost", object_id=str(post.pk)).exists()


def test_a_post_needs_its_first_updates_status_and_message(alice_client, page):
    r = alice_client.post(posts_url(page), {"title": "t"}, format="json")
    assert r.status_code == 400 and {"status", "message"} <= set(r.json())
    assert not IncidentPost.objects.exists()


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"impact": "apocalyptic"}, "impact"),
        ({"status": "panicking"}, "status"),
        ({"title": "nul\x00byte"}, "title"),
        ({"servers": [2**70]}, "servers"),
        ({"servers": ["x"]}, "servers"),
        ({"message": ["not", "text"]}, "message"),
        ({"title": ""}, "title"),
    ],
)
def test_bad_input_is_400_naming_the_field(alice_client, page, fields, bad):
    r = new_post(alice_client, page, **fields)
    assert r.status_code == 400 and bad in r.json(), r.content
    assert not IncidentPost.objects.exists()


def test_a_server_of_another_team_is_refused(alice_client, page, charlie):
    r = new_post(alice_client, page, servers=[make_server(charlie).pk])
    assert r.status_code == 400 and "servers" in r.json()


def test_a_server_the_page_does_not_show_is_refused_and_never_named(alice, alice_client, page):
    hidden = make_server(alice, name="secret-billing-db")
    r = new_post(alice_client, page, servers=[hidden.pk])
    assert r.status_code == 400 and "servers" in r.json()
    # Taken off the page after the post named it: the public page no longer names it.
    shown = page.servers.get()
    shown.name = "checkout-api-7c1e"  # "api" alone is in every page's own URLs
    shown.save()
    post_id = new_post(alice_client, page, servers=[shown.pk]).json()["id"]
    page.servers.clear()
    page.save()
    assert post_id and shown.name not in Client().get(f"/status/{page.slug}/").content.decode()


def test_updates_move_the_posts_status_and_resolve_it(alice_client, page):
    post_id = new_post(alice_client, page).json()["id"]
    url = f"{posts_url(page)}{post_id}/updates/"
    r = alice_client.post(url, {"status": "identified", "message": "A bad deploy"}, format="json")
    assert r.status_code == 201 and r.json()["status"] == "identified" and r.json()["resolved_at"] is None
    r = alice_client.post(url, {"status": "resolved", "message": "Rolled back"}, format="json")
    post = IncidentPost.objects.get(pk=post_id)
    last = post.updates.last()
    assert post.status == "resolved" and post.resolved_at == last.created_at
    assert r.json()["resolved_at"] is not None and len(r.json()["updates"]) == 3
    # A later update that is not "resolved" reopens it.
    alice_client.post(url, {"status": "monitoring", "message": "It came back"}, format="json")
    post.refresh_from_db()
    assert post.status == "monitoring" and post.resolved_at is None
    assert AuditEntry.objects.filter(action="create", object_type="postupdate").count() == 3


def test_an_update_with_bad_input_is_400(alice_client, page):
    post_id = new_post(alice_client, page).json()["id"]
    url = f"{posts_url(page)}{post_id}/updates/"
    r = alice_client.post(url, {"status": "done", "message": "\x00"}, format="json")
    assert r.status_code == 400 and {"status", "message"} <= set(r.json())
    assert PostUpdate.objects.count() == 1


def test_a_posts_status_changes_only_by_an_update(alice_client, page):
    post_id = new_post(alice_client, page).json()["id"]
    r = alice_client.patch(f"{posts_url(page)}{post_id}/", {"status": "resolved"}, format="json")
    assert r.status_code == 400 and "status" in r.json()
    r = alice_client.patch(f"{posts_url(page)}{post_id}/", {"title": "Logins fail"}, format="json")
    assert r.status_code == 200 and IncidentPost.objects.get().title == "Logins fail"
    assert AuditEntry.objects.filter(action="update", object_type="incidentpost").exists()
    assert alice_client.delete(f"{posts_url(page)}{post_id}/").status_code == 204
    assert not IncidentPost.objects.exists() and not PostUpdate.objects.exists()
    assert AuditEntry.objects.filter(action="delete", object_type="incidentpost").exists()


def test_another_pages_post_is_404_under_this_page(alice, alice_client, page):
    other = StatusPage.objects.create(owner=alice, slug="other", title="Other")
    post = create_post(other, title="t", status="investigating", message="m")
    assert alice_client.get(f"{posts_url(page)}{post.pk}/").status_code == 404
    assert alice_client.get(posts_url(page)).json()["results"] == []


def test_each_post_and_update_is_queued_once_for_the_pages_subscribers(alice_client, page):
    post_id = new_post(alice_client, page).json()["id"]
    alice_client.post(f"{posts_url(page)}{post_id}/updates/", {"status": "resolved", "message": "ok"}, format="json")
    rows = list(PageMessage.objects.filter(page=page).order_by("id").values_list("event", "status", "impact"))
    assert rows == [("post", "investigating", "major"), ("update", "resolved", "major")]  # new_post's impact


def test_a_post_that_fails_to_save_is_announced_to_nobody(alice_client, page):
    r = alice_client.post(posts_url(page), {"title": "", "status": "investigating", "message": "m"}, format="json")
    assert r.status_code == 400 and not PageMessage.objects.exists()


def test_the_summary_carries_open_posts_and_history_and_follows_changes(alice_client, anon_client, page):
    summary = "/api/status-pages/acme/summary/"
    assert anon_client.get(summary).json()["posts"] == []  # cached now
    post_id = new_post(alice_client, page, servers=[page.servers.get().pk]).json()["id"]
    s = anon_client.get(summary).json()
    assert [p["title"] for p in s["posts"]] == ["Slow logins"] and s["history"] == []
    (post,) = s["posts"]
    assert post["servers"] == ["api"] and post["impact"] == "major"
    assert post["updates"][0]["html"] == "<p>Looking <em>now</em></p>\n"
    alice_client.post(f"{posts_url(page)}{post_id}/updates/", {"status": "resolved", "message": "Fixed"}, format="json")
    s = anon_client.get(summary).json()
    assert s["posts"] == [] and [p["title"] for p in s["history"]] == ["Slow logins"]
    assert [u["status"] for u in s["history"][0]["updates"]] == ["resolved", "investigating"]
    assert all(u["created_at"] for u in s["history"][0]["updates"])


def test_announcements_crud_and_the_summary_while_shown(alice_client, anon_client, page):
    url = f"/api/status-pages/{page.pk}/announcements/"
    r = alice_client.post(url, {"notice": "Upgrade **tonight**"}, format="json")
    assert r.status_code == 201, r.content
    a = Announcement.objects.get(pk=r.json()["id"])
    assert a.page == page and AuditEntry.objects.filter(action="create", object_type="announcement").exists()
    shown = anon_client.get("/api/status-pages/acme/summary/").json()["announcements"]
    assert [x["html"] for x in shown] == ["<p>Upgrade <strong>tonight</strong></p>\n"]
    later = timezone.now() + timedelta(hours=1)
    r = alice_client.patch(f"{url}{a.pk}/", {"starts_at": later.isoformat()}, format="json")
    assert r.status_code == 200
    assert anon_client.get("/api/status-pages/acme/summary/").json()["announcements"] == []  # not yet
    r = alice_client.patch(f"{url}{a.pk}/", {"ends_at": (later - timedelta(hours=2)).isoformat()}, format="json")
    assert r.status_code == 400 and "ends_at" in r.json()
    r = alice_client.post(url, {"notice": "x", "starts_at": "yesterday"}, format="json")
    assert r.status_code == 400 and "starts_at" in r.json()
    assert alice_client.delete(f"{url}{a.pk}/").status_code == 204 and not Announcement.objects.exists()


def test_an_announcement_is_gone_from_the_page_within_two_seconds_of_its_end(alice_client, anon_client, page):
    ends = timezone.now() + timedelta(seconds=1.5)
    url = f"/api/status-pages/{page.pk}/announcements/"
    assert alice_client.post(url, {"notice": "Brief", "ends_at": ends.isoformat()}, format="json").status_code == 201
    summary = "/api/status-pages/acme/summary/"
    assert [a["notice"] for a in anon_client.get(summary).json()["announcements"]] == ["Brief"]  # and cached
    time.sleep(max(0.0, (ends - timezone.now()).total_seconds()) + 2.0)
    assert anon_client.get(summary).json()["announcements"] == []
    assert "Brief" not in anon_client.get("/status/acme/").content.decode()


def test_the_summary_does_not_tell_when_an_unseen_announcement_starts(alice_client, anon_client, page):
    starts = timezone.now() + timedelta(hours=3)
    url = f"/api/status-pages/{page.pk}/announcements/"
    assert (
        alice_client.post(url, {"notice": "Later", "starts_at": starts.isoformat()}, format="json").status_code == 201
    )
    body = anon_client.get("/api/status-pages/acme/summary/").content.decode()
    assert "Later" not in body and starts.isoformat()[:16] not in body and "changes_at" not in body
