"""Fixtures for the alerting tests: a real SMTP server and mail settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

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
