"""The database and gRPC probes (SPEC §19) against real local services: PostgreSQL and Redis on
their usual ports, MariaDB on 3306 (root, no password), a Redis with a password and a gRPC health
server that the tests start. A service that is absent skips its tests, or fails them with
PULSEGUARD_REQUIRE_SERVICES=1."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import pytest
from django.test import override_settings

from conftest import REQUIRE_SERVICES
from monitoring.choices import PingStatus
from monitoring.services.engine import probes_db
from monitoring.services.engine.transitions import ProbeOutcome
from tests.targets import SilentListener, closed_port, free_port, self_signed_cert

PASSWORD = "s3cret-Pa55word"
allow_private = override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=True)


def _missing(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (PULSEGUARD_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def run(coroutine: Any) -> ProbeOutcome:
    with allow_private:
        return asyncio.run(coroutine)


@pytest.fixture
def postgres() -> None:
    if not _listening(5432):
        _missing("PostgreSQL on 127.0.0.1:5432")


@pytest.fixture
def mariadb() -> None:
    if not _listening(3306):
        _missing("MariaDB/MySQL on 127.0.0.1:3306")


@pytest.fixture
def redis() -> None:
    if not _listening(6379):
        _missing("Redis on 127.0.0.1:6379")


@pytest.fixture
def redis_with_password() -> Iterator[int]:
    """A redis-server of our own that wants ``PASSWORD``; its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD, "--save", ""]
            + ["--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not _listening(port):
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(10)


# --- PostgreSQL


def test_postgres_is_up_when_select_1_runs(postgres):
    outcome = run(probes_db.probe_postgres(dsn="postgresql://postgres@127.0.0.1:5432/postgres", timeout=5))
    assert outcome.status == PingStatus.SUCCESS and outcome.response_time is not None and outcome.response_time > 0


def test_postgres_runs_the_servers_query_by_name(postgres):
    dsn = "postgresql://postgres@localhost:5432/postgres"
    assert run(probes_db.probe_postgres(dsn=dsn, query="SELECT count(*) FROM pg_class", timeout=5)).ok


def test_postgres_fails_on_a_bad_query_naming_the_drivers_error(postgres):
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/postgres"
    outcome = run(probes_db.probe_postgres(dsn=dsn, query="SELECT * FROM no_such_table", timeout=5))
    assert outcome.status == PingStatus.FAILURE
    assert outcome.error_message.startswith('UndefinedTable: relation "no_such_table" does not exist')
    assert PASSWORD not in outcome.error_message


def test_postgres_fails_for_a_database_that_does_not_exist(postgres):
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/no_such_db_pg"
    outcome = run(probes_db.probe_postgres(dsn=dsn, timeout=5))
    assert outcome.status == PingStatus.FAILURE and 'database "no_such_db_pg" does not exist' in outcome.error_message
    assert PASSWORD not in outcome.error_message


def test_postgres_on_a_closed_port_is_an_error_without_the_password():
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/postgres"
    outcome = run(probes_db.probe_postgres(dsn=dsn, timeout=5))
    assert outcome.status == PingStatus.ERROR and "Connection refused" in outcome.error_message
    assert outcome.error_message.startswith("OperationalError: ") and PASSWORD not in outcome.error_message


def test_postgres_that_never_answers_is_a_timeout_within_the_timeout():
    with SilentListener() as silent:
        started = time.monotonic()
        outcome = run(probes_db.probe_postgres(dsn=f"postgresql://u@127.0.0.1:{silent.port}/db", timeout=1))
    assert outcome.status == PingStatus.TIMEOUT and outcome.error_message == "no answer within 1s"
    assert time.monotonic() - started < 3


def test_postgres_query_that_runs_too_long_is_a_timeout(postgres):
    dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
    outcome = run(probes_db.probe_postgres(dsn=dsn, query="SELECT pg_sleep(5)", timeout=1))
    assert outcome.status == PingStatus.TIMEOUT


def test_postgres_never_commits_the_query(postgres):
    dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
    assert run(probes_db.probe_postgres(dsn=dsn, query="CREATE TABLE dbprobes_leftover (id int)", timeout=5)).ok
    again = run(probes_db.probe_postgres(dsn=dsn, query="SELECT * FROM dbprobes_leftover", timeout=5))
    assert again.status == PingStatus.FAILURE, "the table of the first check was rolled back"


def test_postgres_refuses_libpq_keys_that_read_local_files():
    outcome = run(probes_db.probe_postgres(dsn="postgresql://u@127.0.0.1:5432/db?passfile=/etc/passwd", timeout=5))
    assert outcome.status == PingStatus.ERROR and "passfile may not be set" in outcome.error_message


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_postgres_on_a_private_address_is_refused_before_connecting():
    with SilentListener() as silent:
        outcome = asyncio.run(probes_db.probe_postgres(dsn=f"postgresql://u@127.0.0.1:{silent.port}/db", timeout=5))
        time.sleep(0.1)
        assert silent.held == 0, "nothing connected"
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message


def test_postgres_connects_to_the_vetted_address_not_a_second_lookup(postgres, monkeypatch):
    """libpq gets ``hostaddr``: a name whose later lookups would say elsewhere is never looked up again."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real("127.0.0.1" if host == "pg.rebind.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    outcome = run(probes_db.probe_postgres(dsn="postgresql://postgres@pg.rebind.test:5432/postgres", timeout=5))
    assert outcome.ok, outcome
    assert lookups.count("pg.rebind.test") == 1


# --- MySQL / MariaDB


def test_mariadb_is_up_when_select_1_runs(mariadb):
    outcome = run(probes_db.probe_mysql(dsn="mysql://root@127.0.0.1:3306/", timeout=5))
    assert outcome.status == PingStatus.SUCCESS and outcome.response_time is not None


def test_mariadb_runs_the_query_in_the_named_database(mariadb):
    dsn = "mysql://root@localhost:3306/mysql"
    assert run(probes_db.probe_mysql(dsn=dsn, query="SELECT COUNT(*) FROM user", timeout=5)).ok


def test_mariadb_with_a_bad_password_fails_naming_the_error_not_the_password(mariadb):
    outcome = run(probes_db.probe_mysql(dsn=f"mysql://root:{PASSWORD}@127.0.0.1:3306/", timeout=5))
    assert outcome.status == PingStatus.FAILURE
    assert outcome.error_message.startswith("OperationalError 1045: Access denied for user 'root'")
    assert PASSWORD not in outcome.error_message


def test_mariadb_fails_on_a_bad_query(mariadb):
    outcome = run(probes_db.probe_mysql(dsn="mysql://root@127.0.0.1:3306/", query="SELEC 1", timeout=5))
    assert outcome.status == PingStatus.FAILURE and outcome.error_message.startswith("ProgrammingError 1064: ")


def test_mysql_with_ssl_true_never_falls_back_to_plaintext(mariadb):
    """aiomysql goes on without TLS when the server offers none; the probe refuses that. (The local
    MariaDB has no TLS: were it ever to get some, this test says so by failing.)"""
    outcome = run(probes_db.probe_mysql(dsn="mysql://root@127.0.0.1:3306/?ssl=true", timeout=5))
    assert outcome.status == PingStatus.ERROR
    assert outcome.error_message == "TlsRefused: the server does not support TLS, but ssl=true asks for it"


def test_mysql_on_a_closed_port_is_an_error():
    outcome = run(probes_db.probe_mysql(dsn=f"mysql://root:{PASSWORD}@localhost:{closed_port()}/", timeout=5))
    assert outcome.status == PingStatus.ERROR
    assert (
        outcome.error_message
        == "OperationalError 2003: Can't connect to MySQL server on 'localhost' (Connection refused)"
    )


def test_mysql_that_never_answers_is_a_timeout():
    with SilentListener() as silent:
        outcome = run(probes_db.probe_mysql(dsn=f"mysql://root@127.0.0.1:{silent.port}/", timeout=1))
    assert outcome.status == PingStatus.TIMEOUT


# --- Redis


def test_redis_is_up_when_it_answers_ping(redis):
    outcome = run(probes_db.probe_redis(dsn="redis://127.0.0.1:6379/0", timeout=5))
    assert outcome.status == PingStatus.SUCCESS and outcome.response_time is not None


def test_redis_with_its_password_is_up(redis_with_password):
    assert run(probes_db.probe_redis(dsn=f"redis://:{PASSWORD}@localhost:{redis_with_password}/0", timeout=5)).ok


def test_redis_with_a_wrong_password_fails_without_showing_it(redis_with_password):
    outcome = run(probes_db.probe_redis(dsn=f"redis://:wrong-{PASSWORD}@127.0.0.1:{redis_with_password}", timeout=5))
    assert outcome.status == PingStatus.FAILURE and outcome.error_message.startswith("AuthenticationError: ")
    assert PASSWORD not in outcome.error_message


def test_redis_without_the_password_it_wants_fails(redis_with_password):
    outcome = run(probes_db.probe_redis(dsn=f"redis://127.0.0.1:{redis_with_password}", timeout=5))
    assert outcome.status == PingStatus.FAILURE and "authentication required" in outcome.error_message.lower()


def test_redis_on_a_closed_port_is_an_error():
    outcome = run(probes_db.probe_redis(dsn=f"redis://127.0.0.1:{closed_port()}/0", timeout=5))
    assert outcome.status == PingStatus.ERROR and outcome.error_message.startswith("ConnectionError: ")


def test_redis_that_never_answers_is_a_timeout():
    with SilentListener() as silent:
        outcome = run(probes_db.probe_redis(dsn=f"redis://127.0.0.1:{silent.port}/0", timeout=1))
    assert outcome.status == PingStatus.TIMEOUT


# --- gRPC


@contextlib.contextmanager
def grpc_health_server(statuses: dict[str, str], tls: tuple[str, str] | None = None) -> Iterator[int]:
    """grpcio's own health servicer on 127.0.0.1 (a thread pool, off the probe's event loop); its port."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    for name, state in statuses.items():
        servicer.set(name, health_pb2.HealthCheckResponse.ServingStatus.Value(state))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        cert, key = (open(path, "rb").read() for path in tls)  # noqa: SIM115
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    try:
        yield port
    finally:
        server.stop(None)


def test_grpc_serving_is_up():
    with grpc_health_server({"": "SERVING"}) as port:
        outcome = run(probes_db.probe_grpc(host="127.0.0.1", port=port, timeout=5))
    assert outcome.status == PingStatus.SUCCESS and outcome.response_time is not None


def test_grpc_asks_about_the_named_service():
    with grpc_health_server({"": "SERVING", "shop.Cart": "NOT_SERVING"}) as port:
        outcome = run(probes_db.probe_grpc(host="localhost", port=port, service="shop.Cart", timeout=5))
    assert outcome.status == PingStatus.FAILURE
    assert outcome.error_message == "GrpcError: health status NOT_SERVING for 'shop.Cart'"


def test_grpc_an_unknown_service_fails_with_the_status_code():
    with grpc_health_server({"": "SERVING"}) as port:
        outcome = run(probes_db.probe_grpc(host="127.0.0.1", port=port, service="nope", timeout=5))
    assert outcome.status == PingStatus.FAILURE and outcome.error_message.startswith("GrpcError: NOT_FOUND")


def test_grpc_on_a_closed_port_is_an_error():
    outcome = run(probes_db.probe_grpc(host="127.0.0.1", port=closed_port(), timeout=5))
    assert outcome.status == PingStatus.ERROR and outcome.error_message.startswith("GrpcError: UNAVAILABLE")


def test_grpc_that_never_answers_is_a_timeout():
    with SilentListener() as silent:
        outcome = run(probes_db.probe_grpc(host="127.0.0.1", port=silent.port, timeout=1))
    assert outcome.status == PingStatus.TIMEOUT


def test_grpc_over_tls_verifies_the_certificate(tmp_path):
    cert, key = self_signed_cert(str(tmp_path))
    with grpc_health_server({"": "SERVING"}, tls=(cert, key)) as port:
        with override_settings(CERT_CA_BUNDLE=cert):
            trusted = run(probes_db.probe_grpc(host="localhost", port=port, tls=True, timeout=5))
        untrusted = run(probes_db.probe_grpc(host="localhost", port=port, tls=True, timeout=5))
        unverified = run(probes_db.probe_grpc(host="localhost", port=port, tls=True, verify_tls=False, timeout=5))
        plaintext = run(probes_db.probe_grpc(host="localhost", port=port, timeout=3))
    assert trusted.ok, trusted
    assert untrusted.status == PingStatus.ERROR and "UNAVAILABLE" in untrusted.error_message
    assert unverified.ok, unverified
    assert not plaintext.ok


@override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False)
def test_grpc_on_a_private_address_is_refused():
    outcome = asyncio.run(probes_db.probe_grpc(host="127.0.0.1", port=50051, timeout=5))
    assert outcome.status == PingStatus.ERROR and "MONITOR_ALLOW_PRIVATE_TARGETS" in outcome.error_message


# --- dsn


@pytest.mark.parametrize(
    ("dsn", "target"),
    [
        ("postgresql://u:p@db.example.com/x", ("db.example.com", 5432)),
        ("mysql://u@[2001:db8::1]:3307/x", ("2001:db8::1", 3307)),
        ("rediss://:p@cache.example.com", ("cache.example.com", 6379)),
    ],
)
def test_dsn_target_is_the_host_and_port_or_the_schemes_default(dsn, target):
    assert probes_db.dsn_target(dsn) == target


@pytest.mark.parametrize("dsn", ["postgresql://a,b/x", "postgresql:///x?host=/tmp", "http://x/", "redis://h:99999"])
def test_dsn_target_refuses_what_is_not_one_network_host(dsn):
    with pytest.raises(probes_db.TargetError):
        probes_db.dsn_target(dsn)
