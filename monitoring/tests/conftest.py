"""Fixtures for the monitoring tests: a real SMTP server for alerts, a fresh channel layer for live feeds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from django.test import override_settings

from tests.live import close_worker_connections, fresh_channel_layer, stop_fanout
from tests.smtp import LocalSMTPServer


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
