"""Probes of databases and gRPC services (SPEC §19): ``postgres``, ``mysql`` (and MariaDB),
``redis`` and ``grpc``. No database writes here.

Each probe is a plain coroutine on the check engine's event loop, with keyword arguments only
(the server's fields, not the server), and answers a ``ProbeOutcome`` like ``probes.probe_http``:
never raises for network or server trouble. All four follow the same steps:

1. Take host and port from the ``dsn`` (``dsn_target``), or the gRPC server's own.
2. Resolve and vet them through the private-address guard (``aionet.resolve``), once.
3. Connect to the vetted address itself (never to a second resolution of the name), keeping the
   name for TLS (SNI and the certificate's hostname check) — how, differs per driver:
   psycopg takes ``hostaddr``; redis-py and aiomysql get a small connection subclass;
   gRPC gets an ``ipv4:``/``ipv6:`` target with the name as its authority.
4. Run ``db_query`` (``SELECT 1`` by default) or PING, or ``grpc.health.v1.Health/Check``;
   all within ``timeout`` seconds in total.

A failure names the driver's error (``OperationalError: …``), never the password, and never the
address a name resolved to (``net.vet``'s rule). The connection is closed every time; a query
runs in a transaction that is never committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pymysql
import redis.exceptions
from django.conf import settings

from monitoring.choices import PingStatus, Protocol
from monitoring.models import Server
from monitoring.services import aionet, net
from monitoring.services.engine.transitions import ProbeOutcome

DEFAULT_QUERY = "SELECT 1"
DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "redis": 6379, "rediss": 6379}
# libpq keywords a check may not use: they read files on the monitoring host or pick another server.
REFUSED_PG_KEYS = frozenset({"service", "servicefile", "passfile", "hostaddr"})


class GrpcError(Exception):
    """gRPC's status code and details, as a failure's message (``GrpcError: NOT_FOUND: unknown service``)."""


class TlsRefused(Exception):
    """A server that offers no TLS where the dsn asks for it."""


# Everything a driver raises for a server it could not use (a ValueError: an option it refused).
DRIVER_ERRORS = (
    psycopg.Error,
    pymysql.err.MySQLError,
    redis.exceptions.RedisError,
    GrpcError,
    TlsRefused,
    ValueError,
)


class TargetError(ValueError):
    """A dsn that names no single network host and port."""


class Failed(Exception):
    """The server answered, and the answer is a failure (not a connection error)."""


def dsn_target(dsn: str) -> tuple[str, int]:
    """The host (no brackets) and port (the scheme's default) a ``dsn`` URL connects to.

    Raises TargetError for a dsn with no host, several hosts or a Unix socket path."""
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"not a valid dsn: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise TargetError(f"unsupported dsn scheme {parts.scheme!r}")
    host = unquote(parts.hostname or "")
    if not host or "," in parts.netloc.rsplit("@", 1)[-1] or host.startswith("/"):
        raise TargetError("the dsn must name exactly one network host")
    return host, port or DEFAULT_PORTS[scheme]


def scrub(text: str, secrets: list[str], address: str = "", host: str = "") -> str:
    """``text`` on one line, ≤ 400 characters, with every secret (a password) as ``***`` and the
    resolved ``address`` as the ``host`` it was resolved from (``net.vet``: never show what a
    name resolves to)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if address and address != host:
        text = text.replace(address, host)
    return " ".join(text.split())[:400]


def _driver_message(exc: BaseException) -> str:
    """The driver's error by its class name and message: ``OperationalError: …``.

    PyMySQL's errors are (code, message) pairs: ``OperationalError 1045: Access denied …``; one
    that could not reach the server adds why (``… (Connection refused)``)."""
    name = type(exc).__name__
    args = exc.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{name} {args[0]}: {args[1]}"
        if exc.__cause__ is not None:
            text += f" ({net.reason(exc.__cause__)})"
        return text
    return f"{name}: {exc}" if str(exc) else name


async def _vetted(host: str, port: int) -> tuple[int, str]:
    """The first vetted (family, address) of ``host``: every answer is checked, the first is dialled."""
    return (await aionet.resolve(host, port))[0]


def _tls_context(verify: bool) -> ssl.SSLContext:
    """Verification against CERT_CA_BUNDLE (or the system store), or none at all."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=settings.CERT_CA_BUNDLE or None)


async def _run(
    host: str, port: int, timeout: float, secrets: list[str], step: Callable[[str], Awaitable[None]]
) -> ProbeOutcome:
    """Vet ``host``, run ``step(address)`` within ``timeout``, and turn what happened into an outcome.

    ``step`` raises ``Failed`` (from the driver's error) for a server's "no": a failure; a
    ``TimeoutError`` (the driver's own too) is a timeout; anything else is trouble reaching it, an error."""
    started = time.perf_counter()
    address = ""
    try:
        async with asyncio.timeout(timeout):
            _, address = await _vetted(host, port)
            await step(address)
    except TimeoutError:
        return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no answer within {timeout:g}s")
    except net.PrivateAddressError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=str(exc))
    except Failed as exc:
        text = _driver_message(exc.__cause__ or exc)
        return ProbeOutcome(PingStatus.FAILURE, error_message=scrub(text, secrets, address, host))
    except OSError as exc:  # the socket's own errors (asyncio's name the address: net.reason does not)
        return ProbeOutcome(PingStatus.ERROR, error_message=f"connection failed: {net.reason(exc)}")
    except DRIVER_ERRORS as exc:  # a driver's own errors: any of them means "could not check"
        if isinstance(exc, redis.exceptions.TimeoutError):  # raised as its socket_timeout passes
            return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no answer within {timeout:g}s")
        return ProbeOutcome(PingStatus.ERROR, error_message=scrub(_driver_message(exc), secrets, address, host))
    return ProbeOutcome(PingStatus.SUCCESS, round((time.perf_counter() - started) * 1000, 2))


# --- PostgreSQL: psycopg's AsyncConnection, dialled by ``hostaddr``.


async def probe_postgres(*, dsn: str, query: str = "", timeout: float, verify_tls: bool = True) -> ProbeOutcome:
    """Connect with ``dsn`` and run ``query`` (default ``SELECT 1``); a server's error is a failure.

    libpq connects to ``hostaddr`` (the vetted address) and keeps ``host`` for TLS and its messages.
    ``verify_tls`` false turns the dsn's ``sslmode=verify-ca|verify-full`` into ``require``;
    with it, a dsn without ``sslrootcert`` verifies against CERT_CA_BUNDLE when that is set."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        host, port = dsn_target(dsn)
        params = conninfo_to_dict(dsn)
    except (TargetError, psycopg.ProgrammingError) as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=scrub(f"invalid dsn: {exc}", [_password(dsn)]))
    password = str(params.get("password") or "")
    refused = sorted(REFUSED_PG_KEYS & params.keys())
    if refused:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"invalid dsn: {', '.join(refused)} may not be set")
    sslmode = str(params.get("sslmode") or "")
    if not verify_tls and sslmode in ("verify-ca", "verify-full"):
        params["sslmode"] = "require"
    if verify_tls and settings.CERT_CA_BUNDLE and "sslrootcert" not in params:
        params["sslrootcert"] = settings.CERT_CA_BUNDLE

    async def step(address: str) -> None:
        connect_timeout = max(2, int(timeout + 0.999))  # libpq's own bound, whole seconds, at least 2
        try:
            conn = await psycopg.AsyncConnection.connect(
                **{**params, "host": host, "port": port, "hostaddr": address, "connect_timeout": connect_timeout}
            )
        except psycopg.OperationalError as exc:
            if "FATAL:" in str(exc):  # the server answered: a refused login, no such database, …
                raise Failed from exc
            raise
        try:
            async with conn.cursor() as cursor:
                try:
                    await cursor.execute(query or DEFAULT_QUERY)
                except psycopg.Error as exc:
                    raise Failed from exc
        finally:
            await conn.close()  # never committed: a check only looks

    return await _run(host, port, timeout, [password, _password(dsn)], step)


def _password(dsn: str) -> str:
    """The dsn's password as written (percent-encoded or not): never to appear in a message."""
    try:
        return urlsplit(dsn).password or ""
    except ValueError:
        return ""


# --- MySQL and MariaDB: aiomysql, dialled at the address, the name kept for TLS.


def _mysql_connection_class() -> type:
    import aiomysql

    class PinnedConnection(aiomysql.Connection):  # type: ignore[misc]
        """aiomysql dials ``host`` (the vetted address); TLS, which it starts after the server's
        greeting, must check the name: ``_get_server_information`` runs right between the two,
        so it puts the name back for the handshake (``server_hostname=self._host``)."""

        def __init__(self, *args: Any, tls_name: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._tls_name = tls_name

        async def _get_server_information(self) -> None:
            self._host = self._tls_name
            await super()._get_server_information()

    return PinnedConnection


async def probe_mysql(*, dsn: str, query: str = "", timeout: float, verify_tls: bool = True) -> ProbeOutcome:
    """Connect with ``dsn`` (``mysql://user:password@host:port/database``; ``?ssl=true`` for TLS)
    and run ``query`` (default ``SELECT 1``); a server's error (a refused login too) is a failure."""
    try:
        host, port = dsn_target(dsn)
        parts = urlsplit(dsn)
        options = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    except TargetError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=scrub(f"invalid dsn: {exc}", [_password(dsn)]))
    password = unquote(parts.password or "")
    tls = options.get("ssl", "").lower() in ("1", "true", "yes", "required")

    async def step(address: str) -> None:
        conn = _mysql_connection_class()(
            host=address,
            port=port,
            user=unquote(parts.username or ""),
            password=password,
            db=unquote(parts.path.lstrip("/")) or None,
            connect_timeout=timeout + 1,  # the probe's own deadline comes first and says "timeout"
            ssl=_tls_context(verify_tls) if tls else None,
            tls_name=host,
            local_infile=False,
        )
        try:
            try:
                await conn._connect()
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] == 2003:  # "Can't connect": no server answered there
                    raise
                raise Failed from exc  # the server refused the login, the database, …
            if tls and not conn._secure:  # aiomysql goes on in plaintext when the server has no TLS
                raise TlsRefused("the server does not support TLS, but ssl=true asks for it")
            async with conn.cursor() as cursor:
                try:
                    await cursor.execute(query or DEFAULT_QUERY)
                    await cursor.fetchall()
                except pymysql.err.MySQLError as exc:
                    raise Failed from exc
        finally:
            conn.close()  # never committed: a check only looks

    return await _run(host, port, timeout, [password, _password(dsn)], step)


# --- Redis: redis-py's asyncio connection, dialled at the address; PING.


def _redis_connection_class(tls: bool) -> type:
    from redis.asyncio.connection import Connection, SSLConnection

    base = SSLConnection if tls else Connection

    class PinnedConnection(base):  # type: ignore[misc,valid-type]
        """Dials ``address``; ``host`` stays the name for SNI and the certificate's hostname."""

        def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._address = address

        def _connection_arguments(self) -> dict[str, Any]:
            arguments = {**super()._connection_arguments(), "host": self._address}
            if tls:
                arguments["server_hostname"] = self.host
            return arguments

    return PinnedConnection


async def probe_redis(*, dsn: str, timeout: float, verify_tls: bool = True) -> ProbeOutcome:
    """Connect with ``dsn`` (``redis://[user:password@]host:port/db``, ``rediss://`` for TLS),
    authenticate and select the database, and PING; a server's error (a refused password) is a failure."""
    from redis.exceptions import AuthenticationError, ResponseError

    try:
        host, port = dsn_target(dsn)
        parts = urlsplit(dsn)
        db = int(parts.path.strip("/") or 0)
    except (TargetError, ValueError) as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=scrub(f"invalid dsn: {exc}", [_password(dsn)]))
    password = unquote(parts.password or "")
    tls = parts.scheme.lower() == "rediss"
    extra: dict[str, Any] = {}
    if tls:
        extra = {
            "ssl_cert_reqs": "required" if verify_tls else "none",
            "ssl_check_hostname": verify_tls,
            "ssl_ca_certs": (settings.CERT_CA_BUNDLE or None) if verify_tls else None,
        }

    async def step(address: str) -> None:
        conn = _redis_connection_class(tls)(
            address=address,
            host=host,
            port=port,
            db=db,
            username=unquote(parts.username or "") or None,
            password=password or None,
            socket_timeout=timeout + 1,  # the probe's own deadline comes first
            socket_connect_timeout=timeout + 1,
            protocol=2,  # RESP2: what every server speaks, no HELLO (Redis < 6 knows none)
            driver_info=None,  # no CLIENT SETINFO: one round trip less, nothing a server may refuse
            **extra,
        )
        try:
            try:
                await conn.connect()
            except (AuthenticationError, ResponseError) as exc:
                raise Failed from exc
            await conn.send_command("PING")
            try:
                answer = await conn.read_response()
            except (AuthenticationError, ResponseError) as exc:  # NOAUTH: it wants a password
                raise Failed from exc
            if answer not in (b"PONG", "PONG", True):
                raise Failed from ValueError(f"PING answered {answer!r}")
        finally:
            await conn.disconnect()

    return await _run(host, port, timeout, [password, _password(dsn)], step)


# --- gRPC: grpc.health.v1.Health/Check over grpcio's aio channel.


def _grpc_target(family: int, address: str, port: int) -> str:
    """A target gRPC dials without resolving anything: ``ipv4:a.b.c.d:port`` or ``ipv6:[::1]:port``."""
    import socket

    return f"ipv6:[{address}]:{port}" if family == socket.AF_INET6 else f"ipv4:{address}:{port}"


async def _unverified_root(address: str, port: int, host: str) -> tuple[bytes, str]:
    """For TLS without verification, which grpcio cannot switch off: the server's own certificate
    (read without verifying) becomes the only trusted root, and a name it carries the name checked."""
    from cryptography import x509

    _, writer = await asyncio.open_connection(address, port, ssl=_tls_context(False), server_hostname=host)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    common = [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]
    name = next(iter(names + common), host)
    return ssl.DER_cert_to_PEM_cert(der).encode(), name


async def probe_grpc(
    *, host: str, port: int, service: str = "", tls: bool = False, verify_tls: bool = True, timeout: float
) -> ProbeOutcome:
    """Ask ``host:port``'s ``grpc.health.v1.Health/Check`` about ``service`` ("" is the whole
    server), in plaintext or, with ``tls``, over TLS verified by ``verify_tls``. SERVING is a
    success; any other status, or the server's error (an unknown service), is a failure."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async def step(address: str) -> None:
        family = 10 if ":" in address else 2  # socket.AF_INET6 / AF_INET
        options: list[tuple[str, Any]] = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
        target = _grpc_target(family, address, port)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if tls:
            if verify_tls:
                bundle = settings.CERT_CA_BUNDLE
                roots = open(bundle, "rb").read() if bundle else None  # noqa: SIM115
                name = host
            else:
                roots, name = await _unverified_root(address, port, host)
            options += [("grpc.ssl_target_name_override", name), ("grpc.default_authority", name)]
            channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(roots), options=options)
        else:
            options.append(("grpc.default_authority", authority))
            channel = grpc.aio.insecure_channel(target, options=options)
        async with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise TimeoutError from exc
                error = GrpcError(f"{code.name}: {exc.details() or ''}".rstrip(": "))
                if code == grpc.StatusCode.UNAVAILABLE:
                    raise error from None
                raise Failed from error
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
                raise Failed from GrpcError(f"health status {status}" + (f" for {service!r}" if service else ""))

    return await _run(host, port, timeout, [], step)


# --- The registry's probes (``probes.PROBES``): a server's fields in, the outcome out. -------------

NO_DSN = "no dsn set: give the server the URL of its database (dsn)"


async def probe_database_server(server: Server, client: aionet.Client) -> ProbeOutcome:
    """A ``postgres``, ``mysql`` or ``redis`` server, by its ``dsn`` and ``db_query``."""
    if not server.dsn:
        # Imported from an export, which leaves the secret dsn out.
        return ProbeOutcome(PingStatus.ERROR, error_message=NO_DSN)
    if server.protocol == Protocol.REDIS:
        return await probe_redis(dsn=server.dsn, timeout=server.timeout, verify_tls=server.verify_tls)
    probe = probe_postgres if server.protocol == Protocol.POSTGRES else probe_mysql
    return await probe(dsn=server.dsn, query=server.db_query, timeout=server.timeout, verify_tls=server.verify_tls)


async def probe_grpc_server(server: Server, client: aionet.Client) -> ProbeOutcome:
    port = server.effective_port
    assert port is not None, "a grpc server always has a port (validated on save)"
    return await probe_grpc(
        host=server.host,
        port=port,
        service=server.grpc_service,
        tls=server.grpc_tls,
        verify_tls=server.verify_tls,
        timeout=server.timeout,
    )
