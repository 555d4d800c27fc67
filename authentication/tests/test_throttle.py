"""The login throttle: every way in, forwarded addresses only from trusted proxies, counts shared by processes."""

from __future__ import annotations

import ipaddress

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from rest_framework.test import APIClient

from authentication.throttle import client_address
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db

DATABASE_CACHE = settings.DATABASE_CACHES


def proxies(*networks: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in networks]


def token_attempt(**meta: str) -> int:
    body = {"username": "alice", "password": "wrong"}
    return APIClient().post("/api/auth/token/", body, format="json", **meta).status_code


@override_settings(AUTH_THROTTLE_RATE="2/minute", TRUSTED_PROXIES=[])
def test_without_trusted_proxies_x_forwarded_for_is_ignored(alice):
    # A client that invents a new X-Forwarded-For per attempt is still one address.
    codes = [token_attempt(HTTP_X_FORWARDED_FOR=f"203.0.113.{n}") for n in range(3)]
    assert codes == [401, 401, 429]


@override_settings(AUTH_THROTTLE_RATE="2/minute", TRUSTED_PROXIES=[])
def test_a_forged_x_forwarded_for_cannot_lock_out_someone_else(alice):
    for _ in range(3):
        token_attempt(HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="192.0.2.66")
    assert token_attempt(REMOTE_ADDR="198.51.100.7") == 401  # not 429: the victim's count is untouched


@override_settings(AUTH_THROTTLE_RATE="2/minute", TRUSTED_PROXIES=proxies("10.0.0.0/8"))
def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(alice):
    via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    assert [token_attempt(HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy) for _ in range(3)] == [401, 401, 429]
    assert token_attempt(HTTP_X_FORWARDED_FOR="198.51.100.2", **via_proxy) == 401


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        ("192.0.2.1", "198.51.100.1", "192.0.2.1"),  # not a trusted peer: the header is ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client prepended a fake hop
        ("10.0.0.5", "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two trusted proxies in a row
        ("10.0.0.5", "10.0.0.9", "10.0.0.5"),  # nothing but proxies: the peer
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
        ("10.0.0.5", "", "10.0.0.5"),
        ("10.0.0.5", "[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_first_untrusted_hop_from_the_right(remote, forwarded, expected):
    with override_settings(TRUSTED_PROXIES=proxies("10.0.0.0/8")):
        assert client_address({"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}) == expected


@override_settings(AUTH_THROTTLE_RATE="3/minute")
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_login_pages_are_throttled_too(alice, path):
    client = Client()
    codes = [client.post(path, {"username": "alice", "password": "wrong"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get(path).status_code == 200  # the page itself still shows


@override_settings(AUTH_THROTTLE_RATE="3/minute")
def test_one_counter_covers_every_way_in(alice):
    Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    Client().post("/admin/login/", {"username": "alice", "password": "wrong"})
    assert token_attempt() == 401
    register = {"username": "dana", "email": "dana@example.com", "password": "a-long-passphrase-9"}
    assert APIClient().post("/api/auth/register/", register, format="json").status_code == 429
    assert not User.objects.filter(username="dana").exists()


@override_settings(AUTH_THROTTLE_RATE="2/minute", CACHES=DATABASE_CACHE)
def test_counts_live_in_the_database_where_every_process_sees_them(alice):
    assert [token_attempt(), token_attempt()] == [401, 401]
    # A table of their own (authentication.models.RateCounter), not the cache: every process
    # reads the same row, and nothing but its own window ending resets it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, count FROM authentication_ratecounter")
        assert cursor.fetchall() == [("auth:127.0.0.1", 2)]
    assert token_attempt() == 429


@override_settings(
    AUTH_THROTTLE_RATE="2/minute",
    CACHES={"default": {**DATABASE_CACHE["default"], "OPTIONS": {"MAX_ENTRIES": 20}}},
)
def test_anonymous_traffic_cannot_evict_the_login_counts(alice):
    # Pushes to made-up tokens and unknown status pages are anonymous and cost nothing to send;
    # once they filled the cache, its culling dropped the login counter and gave fresh guesses.
    assert [token_attempt(), token_attempt()] == [401, 401]
    client = APIClient()
    for n in range(30):
        client.get(f"/api/push/made-up-token-{n}/")
        client.get(f"/status/made-up-page-{n}/")
    caches["default"].set("filler", "x")  # any other use of the cache culls it too
    assert token_attempt() == 429


@override_settings(AUTH_THROTTLE_RATE="10/minute", CACHES=DATABASE_CACHE)
@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_are_counted_exactly():
    # 40 attempts at once from one address: exactly the 10 the rate allows get through.
    from django.test import RequestFactory

    from authentication.throttle import AuthRateThrottle

    allowed: list[bool] = []

    def attempt(_: int) -> None:
        request = RequestFactory().post("/api/auth/token/", REMOTE_ADDR="192.0.2.9")
        allowed.append(AuthRateThrottle().allow_request(request, None))

    assert at_once(attempt, threads=40) == []
    assert len(allowed) == 40
    assert allowed.count(True) == 10
