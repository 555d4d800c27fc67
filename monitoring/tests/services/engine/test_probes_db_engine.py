"""The database and gRPC kinds on the check engine (SPEC §19): a server of each kind, checked by
``run_once`` as check-now and ``check_servers`` check it, goes UP against the local service and
DOWN when its target is gone."""

from __future__ import annotations

import pytest
from django.test import override_settings

from monitoring.choices import PingStatus, Status
from monitoring.models import PingResult, Server
from monitoring.tasks.engine import run_once
from monitoring.tests.services.engine.test_probes_db import _listening, _missing, grpc_health_server
from monitoring.validators import parse_dsn

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _local_targets():
    with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True):
        yield


def check(server: Server) -> PingResult:
    summary = run_once([server])
    assert not summary.errors, summary.errors
    return PingResult.objects.filter(server=server).latest("id")


def status(server: Server) -> str:
    server.server_status.refresh_from_db()
    return server.server_status.status


@pytest.mark.parametrize(
    ("protocol", "port", "dsn"),
    [
        ("postgres", 5432, "postgresql://postgres@127.0.0.1:5432/postgres"),
        ("redis", 6379, "redis://127.0.0.1:6379/0"),
        ("mysql", 3306, "mysql://root@127.0.0.1:3306/mysql"),
    ],
)
def test_a_database_server_is_up_while_its_database_answers_and_down_when_it_is_gone(alice, protocol, port, dsn):
    if not _listening(port):
        _missing(f"{protocol} on 127.0.0.1:{port}")
    host, port = parse_dsn(protocol, dsn)  # as the API, the admin and imports set them
    server = Server.objects.create(
        owner=alice, name=protocol, protocol=protocol, dsn=dsn, host=host, port=port, retries=0, timeout=5
    )
    assert check(server).status == PingStatus.SUCCESS and status(server) == Status.UP
    Server.objects.filter(pk=server.pk).update(dsn=dsn.replace(f":{port}/", ":9/"))
    server.refresh_from_db()
    result = check(server)
    assert result.status == PingStatus.ERROR and status(server) == Status.DOWN
    assert "connection" in result.error_message.lower() or "refused" in result.error_message.lower()


def test_a_database_server_without_a_dsn_says_so(alice):
    server = Server.objects.create(owner=alice, name="imported", protocol="postgres", host="127.0.0.1", port=5432)
    result = check(server)
    assert result.status == PingStatus.ERROR and "no dsn set" in result.error_message


def test_a_grpc_server_is_up_while_serving_and_down_when_not(alice):
    with grpc_health_server({"": "SERVING", "billing": "NOT_SERVING"}) as port:
        server = Server.objects.create(owner=alice, name="rpc", protocol="grpc", host="127.0.0.1", port=port, retries=0)
        assert check(server).status == PingStatus.SUCCESS and status(server) == Status.UP
        Server.objects.filter(pk=server.pk).update(grpc_service="billing")
        server.refresh_from_db()
        assert check(server).status == PingStatus.FAILURE and status(server) == Status.DOWN
