"""Builders for probe agent tests: a location of a team, its token, a server checked from it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from authentication.teams import personal_team
from monitoring.models import ProbeLocation, Server, ServerLocation
from monitoring.services.locations.agents import create_token
from monitoring.tests.factories import make_server


def make_location(owner: Any, slug: str = "eu-west", **fields: Any) -> ProbeLocation:
    return ProbeLocation.objects.create(
        name=slug.replace("-", " ").title(), slug=slug, team=personal_team(owner), **fields
    )


def agent_client(location: ProbeLocation, owner: Any = None) -> tuple[APIClient, str]:
    _, raw = create_token(location, "agent", owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, raw


def checked_from(owner: Any, location: ProbeLocation, *, due: datetime | None = None, **fields: Any) -> Server:
    server = make_server(owner, **{"protocol": "http", "host": "127.0.0.1", "port": 9, **fields})
    ServerLocation.objects.create(server=server, location=location, next_check_at=due or timezone.now())
    return server


def result(server: Server, key: str, **fields: Any) -> dict[str, Any]:
    now = timezone.now()
    return {
        "key": key,
        "server_id": server.pk,
        "checked_at": now.isoformat(),
        "due_at": now.isoformat(),
        "started_at": now.isoformat(),
        "next_due_at": (now + timedelta(seconds=60)).isoformat(),
        "status": "success",
        "response_time": 12.0,
        "status_code": 200,
        "error_message": "",
        **fields,
    }
