"""The one credential helper behind the WebSocket consumer and the SSE view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from authentication.credentials import INVALID, NOT_PROVIDED, authenticate
from tests.live import close_worker_connections, token_for

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
async def _close_connections() -> AsyncIterator[None]:
    yield
    await close_worker_connections()


async def session_of(user: Any) -> str:
    """The key of a fresh logged-in session of ``user``."""

    def log_in() -> str:
        client = Client()
        client.force_login(user)
        return client.session.session_key

    return await database_sync_to_async(log_in)()


async def test_a_bearer_header_authenticates_and_carries_the_token_expiry(alice):
    creds = await authenticate(f"Bearer {token_for(alice)}", None, None)
    assert creds.ok and creds.user.pk == alice.pk and not creds.error
    assert creds.expires_at is not None


async def test_a_query_token_authenticates_when_there_is_no_header(alice):
    creds = await authenticate(None, token_for(alice), None)
    assert creds.ok and creds.user.pk == alice.pk


async def test_a_query_token_must_be_a_jwt_not_a_user_id(alice):
    creds = await authenticate(None, str(alice.pk), None)
    assert not creds.ok and creds.error == INVALID


async def test_a_session_authenticates_without_a_token(alice):
    creds = await authenticate(None, None, await session_of(alice))
    assert creds.ok and creds.user.pk == alice.pk and creds.expires_at is None


async def test_another_authorization_scheme_falls_back_to_the_session(alice):
    creds = await authenticate("Basic YWxpY2U6cHc=", None, await session_of(alice))
    assert creds.ok and creds.user.pk == alice.pk


async def test_a_presented_but_expired_token_is_refused_even_with_a_session(alice, charlie):
    expired = token_for(charlie, lifetime=-timedelta(seconds=1))
    creds = await authenticate(f"Bearer {expired}", None, await session_of(alice))
    assert not creds.ok and creds.error == INVALID


async def test_a_token_of_a_deactivated_user_is_refused(alice):
    token = token_for(alice)
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    creds = await authenticate(f"Bearer {token}", None, None)
    assert not creds.ok


async def test_nothing_usable_says_credentials_were_not_provided():
    creds = await authenticate(None, "  ", None)
    assert not creds.ok and creds.error == NOT_PROVIDED


async def test_a_storm_of_connects_shares_its_database_reads(alice, bob, charlie):
    # Issue 14 D.20: a query per connect on one thread made daphne drop every handshake of a
    # storm. Connects waiting at the same moment share one read, whatever users they are.
    import asyncio
    from unittest import mock

    from authentication import credentials

    tokens = [token_for(user) for user in (alice, bob, charlie) for _ in range(30)]
    with mock.patch.object(credentials, "read_state", wraps=credentials.read_state) as reads:
        results = await asyncio.gather(*(authenticate(f"Bearer {token}", None, None) for token in tokens))
    assert all(creds.ok for creds in results)
    assert {creds.user.username for creds in results} == {"alice", "bob", "charlie"}
    assert reads.call_count == 1
