"""Status page subscribers (SPEC §21): subscribing, confirming, unsubscribing, who sees them."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from authentication.models import AuditEntry, Membership, Role, Team
from conftest import client_for
from monitoring.choices import PageEvent
from monitoring.models import StatusPage, Subscriber, SubscriberDelivery
from monitoring.services.subscribers.events import notify_subscribers
from monitoring.services.subscribers.sending import send_subscriber_messages
from monitoring.services.subscribers.subscriptions import UNSUBSCRIBE, link

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://\S+/subscriptions/(?:confirm|unsubscribe)/\S+/")


@pytest.fixture
def page(alice):
    return StatusPage.objects.create(owner=alice, slug="acme", title="Acme status", is_public=True)


def subscribe(body, **extra):
    return Client(**extra).post("/api/status-pages/acme/subscribe/", body, content_type="application/json")


def confirm_link(message) -> str:
    return LINK.search(message.get_content()).group(0)


def test_an_email_subscriber_confirms_by_the_link_then_counts(page, alice_client, smtp_server):
    r = subscribe({"email": "Fan@Example.com"})
    assert r.status_code == 202
    subscriber = Subscriber.objects.get()
    assert (subscriber.target, subscriber.confirmed_at) == ("fan@example.com", None)
    assert alice_client.get(f"/api/status-pages/{page.pk}/").json()["subscriber_count"] == 0
    assert send_subscriber_messages() == 1
    [message] = smtp_server.messages
    assert message["To"] == "fan@example.com" and "Confirm" in message["Subject"]
    url = confirm_link(message)
    assert "/confirm/" in url
    r = Client().get(url[url.index("/subscriptions/") :])
    assert r.status_code == 200 and b"Subscribed" in r.content
    subscriber.refresh_from_db()
    assert subscriber.confirmed_at is not None
    assert alice_client.get(f"/api/status-pages/{page.pk}/").json()["subscriber_count"] == 1


def test_an_unconfirmed_address_gets_nothing_but_its_confirmation(page, smtp_server):
    subscribe({"email": "fan@example.com"})
    notify_subscribers(page, PageEvent.POST, title="Outage", status="investigating", time=timezone.now())
    send_subscriber_messages()
    assert [m["Subject"] for m in smtp_server.messages] == ["Confirm your subscription to Acme status"]


def test_subscribing_twice_changes_nothing_and_answers_the_same(page):
    assert subscribe({"email": "fan@example.com"}).status_code == 202
    assert subscribe({"email": "FAN@example.com"}).status_code == 202
    assert Subscriber.objects.count() == 1
    assert SubscriberDelivery.objects.count() == 1  # one confirmation waiting is enough


def test_a_webhook_is_active_at_once(page, alice_client):
    r = subscribe({"webhook_url": "https://hooks.example.com/status"})
    assert r.status_code == 202
    assert Subscriber.objects.get().confirmed_at is not None
    assert alice_client.get(f"/api/status-pages/{page.pk}/").json()["subscriber_count"] == 1


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_a_webhook_to_a_private_address_is_refused(page):
    r = subscribe({"webhook_url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 400 and "webhook_url" in r.json()
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com", "webhook_url": "https://x.example.com/"},
        {"email": "not an address"},
        {"email": "a\x00@example.com"},
        {"webhook_url": "ftp://x.example.com/"},
        {"webhook_url": "javascript:alert(1)"},
        {"email": ["a@example.com"]},
    ],
)
def test_bad_input_is_a_400(page, body):
    assert subscribe(body).status_code == 400
    assert not Subscriber.objects.exists()


def test_a_private_page_or_unknown_slug_takes_no_subscribers(page):
    page.is_public = False
    page.save()
    assert subscribe({"email": "fan@example.com"}).status_code == 404
    assert Client().post("/api/status-pages/nope/subscribe/", {"email": "a@example.com"}).status_code == 404


@override_settings(SUBSCRIBE_THROTTLE_RATE="2/hour")
def test_subscribing_is_throttled_per_client_address(page):
    assert subscribe({"email": "a@example.com"}).status_code == 202
    assert subscribe({"email": "b@example.com"}).status_code == 202
    r = subscribe({"email": "c@example.com"})
    assert r.status_code == 429 and "Retry-After" in r
    assert subscribe({"email": "c@example.com"}, REMOTE_ADDR="198.51.100.9").status_code == 202
    assert Subscriber.objects.count() == 3


def confirmed(page, target="fan@example.com", kind="email") -> Subscriber:
    return Subscriber.objects.create(page=page, kind=kind, target=target, confirmed_at=timezone.now())


def test_every_message_carries_an_unsubscribe_link_and_one_click_headers(page, smtp_server):
    subscriber = confirmed(page)
    notify_subscribers(
        page, PageEvent.POST, title="Checkout is slow", status="investigating", message="Looking.", impact="minor",
        time=timezone.now(),
    )  # fmt: skip
    assert send_subscriber_messages() == 1
    [message] = smtp_server.messages
    assert message["Subject"] == "[Acme status] Checkout is slow"
    leave = confirm_link(message)
    assert "/unsubscribe/" in leave and message["List-Unsubscribe"].strip() == f"<{leave}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Impact: minor" in message.get_content() and "Looking." in message.get_content()
    assert Client().get(leave[leave.index("/subscriptions/") :]).status_code == 200
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_the_unsubscribe_link_unsubscribes_in_one_click(page):
    subscriber = confirmed(page)
    url = link(subscriber, UNSUBSCRIBE)
    r = Client().get(url[url.index("/subscriptions/") :])
    assert r.status_code == 200 and b"Unsubscribed" in r.content
    assert not Subscriber.objects.exists()
    assert Client().get(url[url.index("/subscriptions/") :]).status_code == 200  # again: still gone


def test_the_list_unsubscribe_post_unsubscribes_without_a_csrf_token(page):
    subscriber = confirmed(page)
    url = link(subscriber, UNSUBSCRIBE)
    client = Client(enforce_csrf_checks=True)
    r = client.post(url[url.index("/subscriptions/") :], "List-Unsubscribe=One-Click", content_type="text/plain")
    assert r.status_code == 200 and not Subscriber.objects.exists()


def test_a_forged_or_mismatched_link_does_nothing(page):
    subscriber = confirmed(page)
    confirm_url = link(subscriber, "confirm")
    token = confirm_url.rstrip("/").rsplit("/", 1)[1]
    assert Client().get(f"/subscriptions/unsubscribe/{token}/").status_code == 200  # "already gone" page
    assert Subscriber.objects.exists(), "a confirm link must not unsubscribe"
    assert Client().get("/subscriptions/confirm/garbage/").status_code == 404
    assert Client().get(f"/subscriptions/unsubscribe/{token[:-2]}xx/").status_code == 200
    assert Subscriber.objects.exists()


# Who sees the subscribers: the page's team's admins and owners (tests/test_isolation.py has the table).


def test_admins_list_and_delete_subscribers_and_the_delete_is_audited(page, alice_client):
    sub = confirmed(page)
    confirmed(page, "https://hooks.example.com/x", kind="webhook")
    r = alice_client.get(f"/api/status-pages/{page.pk}/subscribers/")
    assert r.status_code == 200
    assert {s["target"] for s in r.json()["results"]} == {"fan@example.com", "https://hooks.example.com/x"}
    assert alice_client.delete(f"/api/status-pages/{page.pk}/subscribers/{sub.pk}/").status_code == 204
    assert list(Subscriber.objects.values_list("kind", flat=True)) == ["webhook"]
    assert AuditEntry.objects.filter(action="delete", object_type="subscriber").exists()


def test_members_and_viewers_get_403_and_other_teams_404(page, charlie, django_user_model):
    team = Team.objects.get(pk=page.team_id)
    Membership.objects.create(team=team, user=charlie, role=Role.MEMBER)
    stranger = django_user_model.objects.create_user("dave", "dave@example.com", "dave-password-1")
    sub = confirmed(page)
    assert client_for(charlie).get(f"/api/status-pages/{page.pk}/subscribers/").status_code == 403
    assert client_for(charlie).delete(f"/api/status-pages/{page.pk}/subscribers/{sub.pk}/").status_code == 403
    assert client_for(stranger).get(f"/api/status-pages/{page.pk}/subscribers/").status_code == 404
    assert Subscriber.objects.filter(pk=sub.pk).exists()
    assert Client().get(f"/api/status-pages/{page.pk}/subscribers/").status_code in (401, 403)


def test_nobody_sees_an_address_on_the_page_or_summary(page):
    confirmed(page, "secret-fan@example.com")
    for url in ("/status/acme/", "/api/status-pages/acme/summary/"):
        assert b"secret-fan" not in Client().get(url).content
