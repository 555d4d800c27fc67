"""On PostgreSQL, deleting servers and accounts while their checks are being recorded answers 2xx
and leaves nothing behind (issue 14 D.25, SPEC §23): the delete and ``record`` lock the server
rows first, in the same order."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conftest import require_postgres
from monitoring.choices import PingStatus
from monitoring.models import Incident, NotificationConfig, PingResult, Server, ServerStatus, StatusChange
from monitoring.tasks import engine
from monitoring.tests.factories import make_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_deletes_while_checks_are_recorded_answer_2xx_and_leave_nothing(alice, alice_client, monkeypatch):
    require_postgres()
    servers = [make_server(alice, name=f"s{n}", protocol="http", host="127.0.0.1", port=9) for n in range(60)]
    for server in servers:
        NotificationConfig.objects.create_for(server, notification_type="email", recipient="ops@example.com")

    async def down(server: Server, client: object) -> engine.ProbeOutcome:
        return engine.ProbeOutcome(PingStatus.FAILURE, error_message="HTTP 500")  # a change, an incident, alerts

    monkeypatch.setattr(engine, "probe_async", down)
    stop = threading.Event()

    def checking() -> None:
        try:
            while not stop.is_set():
                engine.run_once(list(Server.objects.filter(owner=alice)), concurrency=20)
        finally:
            connection.close()

    checker = threading.Thread(target=checking)
    checker.start()
    try:
        answers = [alice_client.delete(f"/api/servers/{s.pk}/").status_code for s in servers[:40]]
        answers.append(alice_client.delete("/api/auth/me/").status_code)
    finally:
        stop.set()
        checker.join(30)
    assert set(answers) == {204}, answers
    for model in (Server, ServerStatus, PingResult, StatusChange, Incident, NotificationConfig):
        assert not model.objects.exists(), model.__name__
