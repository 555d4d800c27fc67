"""A probe agent against a live central server (SPEC §20): real daphne, real ``run_agent``
processes (with a DATABASE_URL that points nowhere: an agent needs no database), a local HTTP
target. Results are stored with their location; the central server stopped and started again
loses nothing and keeps the order; beyond the buffer the oldest go, with one log line saying
how many; a bad URL or token stops the agent with a message saying what to do."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from conftest import subprocess_env
from monitoring.models import PingResult
from monitoring.services.locations.agents import create_token
from monitoring.tests.locations.agent_helpers import checked_from, make_location
from tests.targets import LocalHTTPServer

BASE_DIR = Path(settings.BASE_DIR)
WAIT = 30.0
#: This suite's ports for the central server (one per test, so a lingering socket never collides).
PORTS = iter(range(8500, 8550))
NOWHERE = "postgres://nobody@127.0.0.1:1/nowhere"


def wait_for(what: str, ready: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


class Central:
    """daphne serving the central server on ``port`` with this test's database; stopped and
    started again on the same port at will."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 — kept across restarts, closed by central()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "core.asgi:application"],
            cwd=BASE_DIR,
            env=subprocess_env(LOG_LEVEL="WARNING"),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        proc = self.proc

        def listening() -> bool:
            if proc.poll() is not None:
                self.log.seek(0)
                pytest.fail("daphne exited: " + self.log.read().decode(errors="replace")[-3000:])
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
            return False

        wait_for("the central server", listening)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


@contextlib.contextmanager
def central(port: int) -> Iterator[Central]:
    server = Central(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.log.close()


def agent_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PULSEGUARD_REQUIRE_SERVICES", "CHANNEL_LAYER_TYPE")}
    env.update(DATABASE_URL=NOWHERE, ENVIRONMENT="development", LOG_LEVEL="INFO")
    return env


@contextlib.contextmanager
def agent(url: str, token: str, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``manage.py run_agent`` with no database; its output goes to the file of the second item."""
    path = Path(tempfile.mkdtemp()) / "agent.log"
    with path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_agent",
                "--url",
                url,
                "--token",
                token,
                "--interval",
                "1",
                "--tick",
                "0.2",
                *extra,
            ],
            cwd=BASE_DIR,
            env=agent_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc, path
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def output(log: Path) -> str:
    return log.read_text(errors="replace")


def stamps(server: Any) -> list[Any]:
    """The server's results at the location, in the order they were stored."""
    return list(
        PingResult.objects.filter(server=server, location__isnull=False)
        .order_by("pk")
        .values_list("check_timestamp", flat=True)
    )


def setup(alice: Any, target: LocalHTTPServer, servers: int = 1) -> tuple[Any, list[Any], str]:
    target.set("/", 200, "OK")
    location = make_location(alice)
    port = target.url("").split(":")[-1].strip("/")
    made = [checked_from(alice, location, name=f"s{n}", port=int(port), path="/") for n in range(servers)]
    _, raw = create_token(location, "test agent", alice)
    return location, made, raw


@pytest.mark.django_db(transaction=True)
def test_an_agent_with_no_database_checks_its_locations_servers_and_stores_them_there(alice):
    with LocalHTTPServer() as target, central(next(PORTS)) as central_server:
        location, (server,), raw = setup(alice, target)
        with agent(central_server.url, raw) as (proc, log):
            wait_for("3 results", lambda: len(stamps(server)) >= 3 or proc.poll() is not None)
            assert proc.poll() is None, output(log)
        text = output(log)
        agents_seen = {r.headers.get("User-Agent", "") for r in target.requests}
    assert proc.returncode == 0, text
    assert agents_seen and all(ua.startswith("PulseGuard/") and ua.endswith("(+eu-west)") for ua in agents_seen)
    assert PingResult.objects.filter(server=server).exclude(location=location).count() == 0
    times = stamps(server)
    assert len(set(times)) == len(times), "no check stored twice"
    assert "agent_started" in text and "location=eu-west" in text and "agent_results" in text
    location.refresh_from_db()
    assert location.last_seen_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_central_server_stopped_and_started_again_loses_nothing_and_keeps_the_order(alice):
    with LocalHTTPServer() as target, central(next(PORTS)) as server:
        _, servers, raw = setup(alice, target, servers=2)
        with agent(server.url, raw) as (proc, log):
            wait_for("results", lambda: all(len(stamps(s)) >= 2 for s in servers))
            server.stop()
            down_at = timezone.now()
            time.sleep(6)  # the agent goes on checking, and keeps the results
            server.start()
            wait_for("the kept results", lambda: "central_back" in output(log))
            wait_for("the kept results sent", lambda: "buffered=0" in output(log).split("central_back")[-1])
            up_at = timezone.now()
            time.sleep(2)
            text = output(log)
    assert "central_unreachable" in text and "agent_buffer_dropped" not in text, text
    for item in servers:
        times = stamps(item)
        assert times == sorted(times), "sent in order"
        assert len(set(times)) == len(times), "none stored twice"
        during = [t for t in times if down_at <= t <= up_at]
        assert len(during) >= 5, f"checks of the outage kept: {during}"
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) < 3.0, f"no check lost: {gaps}"


@pytest.mark.django_db(transaction=True)
def test_beyond_the_buffer_the_oldest_results_go_with_one_line_saying_how_many(alice):
    with LocalHTTPServer() as target, central(next(PORTS)) as server:
        _, (item,), raw = setup(alice, target)
        with agent(server.url, raw, "--buffer", "3") as (proc, log):
            wait_for("results", lambda: len(stamps(item)) >= 2)
            server.stop()
            before = len(stamps(item))
            time.sleep(7)
            server.start()
            wait_for("the dropped line", lambda: "agent_buffer_dropped" in output(log))
            time.sleep(1)
            text = output(log)
    dropped = [int(n) for n in re.findall(r"agent_buffer_dropped dropped=(\d+)", text)]
    assert len(dropped) == 1 and dropped[0] >= 2, text
    times = stamps(item)
    assert times == sorted(times)
    gaps = [(b - a).total_seconds() for a, b in zip(times[before - 1 :], times[before:], strict=False)]
    assert max(gaps) >= 2.5, "the oldest of the outage were dropped, the newest kept"


@pytest.mark.django_db(transaction=True)
def test_a_bad_url_or_token_stops_the_agent_with_what_to_do(alice):
    good_shape = "pga_" + "A" * 43
    closed = next(PORTS)
    cases = [
        (f"http://127.0.0.1:{closed}", good_shape, "Cannot reach PulseGuard"),
        ("ftp://127.0.0.1", good_shape, "not an http(s) URL"),
        (f"http://127.0.0.1:{closed}", "pgk_not-an-agent-token", "not an agent token"),
    ]
    with LocalHTTPServer() as elsewhere:
        elsewhere.set("/api/agent/heartbeat/", 200, "<html>hello</html>")
        cases.append((elsewhere.url("").rstrip("/"), good_shape, "not PulseGuard"))
        port = next(PORTS)
        with central(port) as server:
            cases.append((server.url, good_shape, "refused this agent"))
            for url, token, message in cases:
                done = subprocess.run(
                    [sys.executable, "manage.py", "run_agent", "--url", url, "--token", token],
                    cwd=BASE_DIR,
                    env=agent_env(),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert done.returncode != 0, (url, done.stdout)
                assert message in done.stderr, done.stderr
    assert "Make a token" in done.stderr
