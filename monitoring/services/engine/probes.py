"""Probes: look at a target once and say what was seen. No database writes here.

``PROBES`` is the one registry: protocol → ``Probe``, an ``async def probe(server, client) ->
ProbeOutcome`` that runs on the engine's event loop (never blocks; within ``server.timeout``;
connects only to addresses ``aionet.resolve`` vetted; returns network trouble as an outcome and
never raises for it). A kind without a probe in this build is an ERROR outcome saying so. The
network kinds of SPEC §19 are in ``probes_net``; the database and gRPC kinds (``postgres``,
``mysql``, ``redis``, ``grpc``) in ``probes_db``.

Asynchronous, on the check engine's event loop with its one ``aionet.Client`` (``tasks.engine``
runs every check); ``probe()`` runs one from synchronous code for the probes' own tests. The
HTTP probe is two small steps around the request: ``http_check.build_request`` builds it from
the server, ``judge_http`` turns the response into an outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from monitoring.assertions import Response
from monitoring.choices import PingStatus, Protocol
from monitoring.models import Server
from monitoring.services import aionet, net
from monitoring.services.engine import http_check, probes_db, probes_net
from monitoring.services.engine.transitions import ProbeOutcome


def judge_http(server: Server, response: net.HttpResponse) -> ProbeOutcome:
    """The outcome of an HTTP response: expected code, keyword, then assertions (``http_check.judge``)."""
    elapsed = round(response.elapsed_ms, 2)
    seen = Response(response.status_code, response.elapsed_ms, response.headers, response.body)
    failure = http_check.judge(server, seen)
    if failure is not None:
        return ProbeOutcome(PingStatus.FAILURE, elapsed, response.status_code, failure)
    return ProbeOutcome(PingStatus.SUCCESS, elapsed, response.status_code)


async def probe_http(server: Server, client: aionet.Client) -> ProbeOutcome:
    options = http_check.build_request(server)
    try:
        response = await client.http_request(
            method=options.method,
            url=options.url,
            timeout=options.timeout,
            verify=options.verify_tls,
            max_redirects=options.max_redirects,
            headers=options.headers or None,
            data=options.body,
            basic_auth=options.basic_auth,
        )
    except TimeoutError:
        return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no response within {server.timeout:g}s")
    except aiohttp.ClientSSLError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"TLS error: {net.reason(exc)}")
    except net.PrivateAddressError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=str(exc))
    except (aiohttp.ClientConnectionError, ConnectionError) as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"connection failed: {net.reason(exc)}")
    except (aiohttp.ClientError, net.TooManyRedirects, OSError, ValueError) as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=net.reason(exc))
    return judge_http(server, response)


async def probe_tcp(server: Server, client: aionet.Client) -> ProbeOutcome:
    """A TCP connect; with ``tcp_send`` or ``tcp_expect``, an exchange (``probes_net``)."""
    if server.tcp_send or server.tcp_expect:
        return await probes_net.probe_tcp_exchange(server, client)
    port = server.effective_port
    assert port is not None, "a tcp server always has a port (validated on save)"
    try:
        elapsed = await client.tcp_connect(server.host, port, timeout=server.timeout)
    except TimeoutError:
        return ProbeOutcome(PingStatus.TIMEOUT, error_message=f"no connection within {server.timeout:g}s")
    except net.PrivateAddressError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=str(exc))
    except OSError as exc:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"connection failed: {net.reason(exc)}")
    return ProbeOutcome(PingStatus.SUCCESS, round(elapsed, 2))


Probe = Callable[[Server, aionet.Client], Awaitable[ProbeOutcome]]

PROBES: dict[str, Probe] = {
    Protocol.HTTP: probe_http,
    Protocol.HTTPS: probe_http,
    Protocol.TCP: probe_tcp,
    Protocol.PING: probes_net.probe_ping,
    Protocol.DNS: probes_net.probe_dns,
    Protocol.SMTP: probes_net.probe_smtp,
    Protocol.WEBSOCKET: probes_net.probe_websocket,
    Protocol.POSTGRES: probes_db.probe_database_server,
    Protocol.MYSQL: probes_db.probe_database_server,
    Protocol.REDIS: probes_db.probe_database_server,
    Protocol.GRPC: probes_db.probe_grpc_server,
}


async def probe_async(server: Server, client: aionet.Client) -> ProbeOutcome:
    """Run the probe for the server's protocol; never raises for network trouble."""
    probe = PROBES.get(server.protocol)
    if probe is None:
        return ProbeOutcome(PingStatus.ERROR, error_message=f"{server.protocol} checks are not available in this build")
    return await probe(server, client)
