"""Shared fixtures: the named users, API clients, service requirements and local targets.

``alice`` owns things, ``bob`` is staff, ``charlie`` is a stranger who must get 404s.
Tests that need PostgreSQL or Redis call ``require_postgres()`` / ``require_redis()``:
they skip without the service, and fail instead when PULSEGUARD_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.live import close_worker_connections, fresh_channel_layer, stop_fanout
from tests.smtp import LocalSMTPServer
from tests.targets import LocalHTTPServer, LocalHTTPSServer, closed_port, open_tcp_listener, self_signed_cert

REQUIRE_SERVICES = os.environ.get("PULSEGUARD_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def _missing(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (PULSEGUARD_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        _missing("PostgreSQL (set DATABASE_URL=postgres://…)")


def redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


def require_redis() -> str:
    from urllib.parse import urlparse

    url = urlparse(redis_url())
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                raise OSError("no PONG")
    except OSError:
        _missing(f"Redis at {redis_url()}")
    return redis_url()


@pytest.fixture(scope="session", autouse=True)
def _per_process_cache() -> Iterator[None]:
    # The installed default is the database cache (every process sees the same entries); tests
    # cache in memory so a test without a database can run, and clearing it between tests
    # touches nothing shared. authentication/tests/test_throttle.py tests the database cache.
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        yield


@pytest.fixture(scope="session", autouse=True)
def _per_worker_channel_prefix() -> Iterator[None]:
    # Under pytest-xdist (``make test``) each worker has a Redis channel-layer prefix of its own,
    # in its settings and in the environment of the processes its tests start: the workers'
    # databases are apart (pytest-django suffixes their names), and so must their groups be, or
    # one worker's ``server-1`` receives the other's events.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        yield
        return
    prefix = f"{os.environ.get('CHANNEL_LAYER_PREFIX', 'pulseguard')}_{worker}"
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "prefix" in layers["default"].get("CONFIG", {}):
        layers["default"]["CONFIG"]["prefix"] = prefix
    with mock.patch.dict(os.environ, CHANNEL_LAYER_PREFIX=prefix), override_settings(CHANNEL_LAYERS=layers):
        yield


@pytest.fixture(autouse=True)
def _clear_cache(_per_process_cache: None) -> Iterator[None]:
    # Status-page summaries live in the cache; each test starts with a clean slate.
    cache.clear()
    yield


@pytest.fixture
def alice(db: Any) -> User:
    return User.objects.create_user("alice", "alice@example.com", "alice-password-1")


@pytest.fixture
def bob(db: Any) -> User:
    return User.objects.create_user("bob", "bob@example.com", "bob-password-1", is_staff=True)


@pytest.fixture
def charlie(db: Any) -> User:
    return User.objects.create_user("charlie", "charlie@example.com", "charlie-password-1")


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob: User) -> APIClient:
    return client_for(bob)


@pytest.fixture
def charlie_client(charlie: User) -> APIClient:
    return client_for(charlie)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def http_target() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on 127.0.0.1 whose answers the test sets (see tests/targets.py)."""
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def tcp_open_port() -> Iterator[int]:
    with open_tcp_listener() as port:
        yield port


@pytest.fixture
def tcp_closed_port() -> int:
    return closed_port()


@pytest.fixture(autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


def test_database_url() -> str:
    """A DATABASE_URL that points a subprocess at the database this test is using."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def shared_cache() -> DatabaseCache:
    """The cache web and scheduler subprocesses use: the database cache, as installed."""
    return DatabaseCache(settings.DATABASE_CACHES["default"]["LOCATION"], {})


@receiver(post_migrate, sender=apps.get_app_config("monitoring"))
def _empty_shared_cache(**kwargs: Any) -> None:
    """Empty the cache web and scheduler subprocesses use, with every flush between
    transactional tests (which sends post_migrate) and after the test database's migrations.

    Those processes cache in the database, as installed (this one caches in memory), and the
    flush empties the models' tables only: an earlier test's status-page entries (slug "acme",
    of a team whose version nothing renewed) would be served to the next test's process until
    they expire."""
    shared_cache().clear()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a manage.py/daphne subprocess sharing this test's database."""
    env = dict(os.environ, DATABASE_URL=test_database_url(), ENVIRONMENT="development")
    env.update(extra)
    return env


@pytest.fixture
def https_target(tmp_path: Any) -> Iterator[LocalHTTPSServer]:
    """A real HTTPS server on 127.0.0.1 with a self-signed certificate."""
    cert, key = self_signed_cert(str(tmp_path))
    with LocalHTTPSServer(cert, key) as server:
        yield server


@pytest.fixture
def http6_target() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on ::1."""
    with LocalHTTPServer("::1") as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[LocalSMTPServer]:
    """An aiosmtpd server on 127.0.0.1, with Django's SMTP backend pointed at it."""
    with (
        LocalSMTPServer() as server,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=server.host,
            EMAIL_PORT=server.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=5,
        ),
    ):
        yield server


@pytest.fixture
async def live_layer() -> AsyncIterator[None]:
    """A fresh channel layer for one live-feed test; the fan-out and worker connections closed after."""
    with fresh_channel_layer():
        yield
        await stop_fanout()
    await close_worker_connections()
