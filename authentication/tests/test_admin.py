"""Deleting accounts from the admin: their servers go first, as the API's account delete does."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import User

from monitoring.models import PingResult, Server
from monitoring.services.engine import checks
from monitoring.tests.factories import make_ping, make_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("root", "root@example.com", "root-password-1")
    client.login(username="root", password="root-password-1")
    return client


def test_deleting_an_account_in_the_admin_locks_and_deletes_its_servers_first(admin_client, alice):
    make_ping(make_server(alice))
    with mock.patch.object(checks, "delete_servers", wraps=checks.delete_servers) as spy:
        r = admin_client.post(f"/admin/auth/user/{alice.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    assert spy.call_count == 1
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Server.objects.exists() and not PingResult.objects.exists()


def test_deleting_accounts_in_bulk_in_the_admin_deletes_their_servers_first(admin_client, alice, charlie):
    make_server(alice)
    make_server(charlie)
    with mock.patch.object(checks, "delete_servers", wraps=checks.delete_servers) as spy:
        chosen = {"action": "delete_selected", "_selected_action": [alice.pk, charlie.pk], "post": "yes"}
        r = admin_client.post("/admin/auth/user/", chosen)
    assert r.status_code == 302 and spy.call_count == 1
    assert not User.objects.filter(pk__in=[alice.pk, charlie.pk]).exists() and not Server.objects.exists()
