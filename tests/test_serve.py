"""bin/serve (SPEC §22): several workers on one port, all stopped by SIGTERM, the redis channel
layer required beyond one; and what the workers share (throttles, live events) through
PostgreSQL and Redis.

Which worker accepted a connection is read from /proc: the server side of the connection is
a socket whose inode one worker holds among its file descriptors.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets.sync.client
from django.conf import settings

from conftest import require_postgres, require_redis, subprocess_env
from monitoring.choices import Protocol
from monitoring.models import PingResult, Server
from tests.live import token_for
from tests.targets import free_port

pytestmark = pytest.mark.django_db(transaction=True)

SERVE = str(Path(settings.BASE_DIR) / "bin" / "serve")
WAIT = 30.0


def serve_env(**extra: str) -> dict[str, str]:
    return subprocess_env(PY=sys.executable, HOST="127.0.0.1", LOG_LEVEL="warning", **extra)


def redis_env(**extra: str) -> dict[str, str]:
    prefix = os.environ.get("CHANNEL_LAYER_PREFIX", "pulseguard") + "_serve"
    return serve_env(CHANNEL_LAYER_TYPE="redis", REDIS_URL=require_redis(), CHANNEL_LAYER_PREFIX=prefix, **extra)


def request(sock: socket.socket, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
    """One HTTP/1.1 request on a connected socket, which the server then closes."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
    sock.sendall((head + headers + "\r\n").encode() + body)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[-1]


class Serve:
    """bin/serve running on a free port: its pid, its workers' pids, and which one holds a connection."""

    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port

    def granian(self) -> int:
        return int(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()[0])

    def workers(self) -> set[int]:
        main = self.granian()
        return {int(pid) for pid in Path(f"/proc/{main}/task/{main}/children").read_text().split()}

    def worker_of(self, sock: socket.socket) -> int:
        """The worker that accepted ``sock`` (the server side: local port self.port, remote ours)."""
        client_port = sock.getsockname()[1]
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            inode = None
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                fields = line.split()
                local, remote = fields[1].split(":"), fields[2].split(":")
                if int(local[1], 16) == self.port and int(remote[1], 16) == client_port:
                    inode = fields[9]
            for pid in self.workers():
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        if inode and os.readlink(fd) == f"socket:[{inode}]":
                            return pid
            time.sleep(0.02)  # not accepted yet
        raise AssertionError("no worker accepted the connection")

    def connect_to(self, worker: int) -> socket.socket:
        """A connection that ``worker`` accepted (others are opened and closed until one is)."""
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
            if self.worker_of(sock) == worker:
                return sock
            sock.close()
        raise AssertionError(f"worker {worker} accepted none of 200 connections")


@contextlib.contextmanager
def serve(env: dict[str, str], workers: int) -> Iterator[Serve]:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [SERVE], env={**env, "PORT": str(port), "WEB_WORKERS": str(workers)}, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + WAIT
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
                    if request(s, "GET", "/api/health/")[0] == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("bin/serve did not start")
                time.sleep(0.2)
            yield Serve(proc, port)
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-5000:])  # shown by pytest on failure
            raise
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(25)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("workers", ["2", "8"])
def test_more_than_one_worker_needs_the_redis_channel_layer(workers):
    run = subprocess.run(
        [SERVE], env=serve_env(CHANNEL_LAYER_TYPE="memory", WEB_WORKERS=workers), capture_output=True, text=True
    )
    assert run.returncode != 0
    assert f"WEB_WORKERS={workers} needs CHANNEL_LAYER_TYPE=redis" in run.stderr


@pytest.mark.parametrize("workers", ["0", "two", "-1"])
def test_a_number_of_workers_that_is_not_one_is_refused(workers):
    run = subprocess.run([SERVE], env=serve_env(WEB_WORKERS=workers), capture_output=True, text=True)
    assert run.returncode == 2 and f"WEB_WORKERS={workers} is not a number" in run.stderr


@pytest.mark.timeout(90)
def test_two_workers_answer_on_one_port_and_sigterm_stops_them_all():
    with serve(redis_env(), workers=2) as server:
        workers = server.workers()
        assert len(workers) == 2
        for worker in workers:  # each one answers, on the one port
            with server.connect_to(worker) as sock:
                assert request(sock, "GET", "/api/health/")[0] == 200
        everyone = {server.proc.pid, server.granian(), *workers}
        # An SSE-like stream left open does not hold the stop up: a request that never ends.
        hanging = socket.create_connection(("127.0.0.1", server.port))
        hanging.sendall(b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(20)
        while any(alive(pid) for pid in everyone) and time.monotonic() - started < 20:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in everyone), "a worker outlived bin/serve by 20 s"
        hanging.close()


@pytest.mark.timeout(120)
def test_throttles_and_live_events_are_shared_by_the_workers(alice):
    require_postgres()
    server = Server.objects.create(owner=alice, name="backup", protocol=Protocol.PUSH, check_interval=60)
    env = redis_env(AUTH_THROTTLE_RATE="3/minute", PUSH_THROTTLE_RATE="2/minute")
    with serve(env, workers=2) as web:
        one, two = sorted(web.workers())

        # Login attempts from one address, alternating between the workers: one count.
        wrong = json.dumps({"username": "alice", "password": "wrong"}).encode()
        codes = []
        for worker in (one, two, one, two):
            with web.connect_to(worker) as sock:
                codes.append(request(sock, "POST", "/api/auth/token/", wrong, "Content-Type: application/json\r\n")[0])
        assert codes == [401, 401, 401, 429]

        # A WebSocket client of one worker sees the push another worker took; the push
        # throttle (per token) counts both workers' pushes.
        sock = web.connect_to(one)
        headers = {"Authorization": f"Bearer {token_for(alice)}"}
        url = f"ws://127.0.0.1:{web.port}/ws/status/"
        with websockets.sync.client.connect(url, sock=sock, additional_headers=headers, open_timeout=WAIT) as ws:
            ws.send(json.dumps({"action": "subscribe", "server_ids": [server.pk]}))
            assert json.loads(ws.recv(WAIT)) == {"type": "subscribed", "servers": [server.pk]}
            pushes = []
            for worker in (two, one, two):
                with web.connect_to(worker) as push:
                    pushes.append(request(push, "GET", f"/api/push/{server.push_token}/")[0])
            assert pushes == [200, 200, 429]
            updates = [json.loads(ws.recv(WAIT)) for _ in range(2)]
            assert [u["type"] for u in updates] == ["update", "update"]
            stored = list(PingResult.objects.filter(server=server).order_by("id").values_list("id", flat=True))
            assert [u["ping"]["id"] for u in updates] == stored and len(stored) == 2


@pytest.mark.timeout(90)
def test_oversized_headers_get_431_and_slow_headers_are_cut_off():
    # What core.http_limits gives daphne, granian's own give bin/serve (~64 KB, a deadline).
    with serve(serve_env(HTTP_HEADER_TIMEOUT="2"), workers=1) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            assert request(sock, "GET", "/api/health/", headers=f"X-Big: {'y' * 100_000}\r\n")[0] == 431
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with contextlib.suppress(OSError):
                while sock.recv(65536) and time.monotonic() - started < WAIT:
                    pass
            assert time.monotonic() - started < 10  # the server closed it after ~2 s
