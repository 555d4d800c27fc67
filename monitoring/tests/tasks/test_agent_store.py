"""The probe agent's store (``tasks.agent.ApiStore``) without a central server: its claims
through an outage of the central server (SPEC §20)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from monitoring.services.locations.wire import server_fields
from monitoring.tasks.agent import ApiStore, Unreachable
from monitoring.tests.factories import make_server


@pytest.mark.django_db
def test_a_check_run_through_an_outage_is_not_started_again_when_the_central_server_gives_it_out(alice):
    """Back from an outage, the central server gives out the due check the agent is already
    running with no lease (its result is not in yet): the agent does not run it twice, and the
    running check's result goes under the new lease, not as a buffered one."""
    server = make_server(alice, name="web", protocol="http", host="127.0.0.1", port=9)
    due = timezone.now() - timedelta(seconds=1)
    store = ApiStore("http://127.0.0.1:9", "pga_x", owner="agent-1", buffer=100)
    answers: list[Any] = [
        {"location": {"slug": "eu"}, "checks": [{"server": server_fields(server), "due_at": due.isoformat()}]}
    ]

    def call(name: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = answers.pop(0) if name == "claim" else {}
        if isinstance(answer, Exception):
            raise answer
        return answer

    store.call = call  # type: ignore[method-assign]
    [first] = store.claim(timezone.now(), owner="agent-1", limit=10, horizon=1, lease=30)
    assert first.pk == server.pk and server.pk in store.in_flight
    # The central server goes away; the engine finishes nothing meanwhile, and the check (due
    # again by the agent's own schedule) is run with no lease.
    store.in_flight.discard(server.pk)
    store.known[server.pk].next_check_at = due
    answers.append(Unreachable("down"))
    [again] = store.claim(timezone.now(), owner="agent-1", limit=10, horizon=1, lease=30)
    assert again.pk == server.pk and server.pk in store.unleased
    # Back: the same due check is given out again while ours runs.
    answers.append(
        {"location": {"slug": "eu"}, "checks": [{"server": server_fields(server), "due_at": due.isoformat()}]}
    )
    assert store.claim(timezone.now(), owner="agent-1", limit=10, horizon=1, lease=30) == []
    assert server.pk not in store.unleased  # its result goes under the lease just taken
