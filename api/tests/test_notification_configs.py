"""Notification configs: CRUD and isolation, and no attaching configs to others' servers."""

from __future__ import annotations

import pytest

from monitoring.models import NotificationConfig
from monitoring.tests.factories import make_server
from tests.crud import CrudCases

pytestmark = pytest.mark.django_db


class TestNotificationConfigCrud(CrudCases):
    url = "/api/notification-configs/"
    model = NotificationConfig
    update_payload = {"enabled": False, "cooldown_minutes": 30}

    def make(self, owner):
        return NotificationConfig.objects.create_for(
            make_server(owner), notification_type="email", recipient="ops@example.com"
        )

    def create_payload(self, owner):
        return {"server": make_server(owner).pk, "notification_type": "email", "recipient": "ops@example.com"}


def test_a_config_cannot_hang_off_another_users_server(alice, charlie_client):
    server = make_server(alice)
    r = charlie_client.post(
        "/api/notification-configs/",
        {"server": server.pk, "notification_type": "email", "recipient": "x@example.com"},
        format="json",
    )
    assert r.status_code == 400 and "server" in r.json()
    assert not NotificationConfig.objects.exists()


def test_an_unknown_notification_type_is_a_400(alice, alice_client):
    server = make_server(alice)
    r = alice_client.post(
        "/api/notification-configs/",
        {"server": server.pk, "notification_type": "pigeon", "recipient": "x"},
        format="json",
    )
    assert r.status_code == 400 and "notification_type" in r.json()
