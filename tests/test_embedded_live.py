"""The embedded default is live (issue 7, SPEC §16): started the way ``make run`` starts it
(``manage.py migrate`` then ``bin/run``: SQLite, the in-memory layer, nothing else), a check the
*scheduler* runs reaches an SSE client. Before, the scheduler ran in a process of its own and
no scheduled check ever reached the feeds with the in-memory layer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.targets import LocalHTTPServer, free_port

ROOT = Path(__file__).resolve().parents[1]


def product_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CHANNEL_LAYER", "REDIS_"))}
    env.update(
        ENVIRONMENT="development",
        DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        CHANNEL_LAYER_TYPE="memory",
        PORT=str(port),
        HOST="127.0.0.1",
        PY=sys.executable,
    )
    return env


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"bin/run exited: {proc.stdout.read() if proc.stdout else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("daphne did not start listening")


def test_a_scheduled_check_reaches_an_sse_client_with_make_run(tmp_path):
    port = free_port()
    env = product_env(tmp_path, port)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    proc = subprocess.Popen(
        ["sh", "bin/run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, stopped as one below
    )
    try:
        with LocalHTTPServer() as target:
            target.set("/", 200, "ok")
            wait_for_port(port, proc)
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=20) as client:
                user = {"username": "newcomer", "email": "n@example.com", "password": "a-long-pass-phrase-9"}
                assert client.post("/api/auth/register/", json=user).status_code == 201
                token = client.post("/api/auth/token/", json=user).json()["access"]
                headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
                with client.stream("GET", "/api/events/status/", headers=headers) as stream:
                    lines = stream.iter_lines()
                    # The snapshot (an empty fleet) comes first; then the server is added.
                    assert next(lines).startswith("retry:")
                    created = client.post(
                        "/api/servers/",
                        headers={"Authorization": f"Bearer {token}"},
                        json={
                            "name": "site",
                            "protocol": "http",
                            "host": "127.0.0.1",
                            "port": target.port,
                            "check_interval": 10,
                            "timeout": 2,
                        },
                    )
                    assert created.status_code == 201, created.text
                    server_id = created.json()["id"]
                    event = ""
                    for line in lines:
                        if line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and event == "ping":
                            pings = json.loads(line[5:])
                            if any(p["server"] == server_id for p in pings):
                                break
                    [ping] = [p for p in pings if p["server"] == server_id]
                    arrived = time.time()
        assert ping["status"] == "success"
        assert target.requests, "the scheduler in the web process probed the target"
        # Not a timing test (bench/ measures it), but a scheduled check is seconds old at most.
        age = arrived - datetime.fromisoformat(ping["check_timestamp"].replace("Z", "+00:00")).timestamp()
        assert age < 10, age
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    assert "scheduler inside the web process" in output


pytestmark = pytest.mark.timeout(120)
