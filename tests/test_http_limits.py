"""A real daphne answers an oversized request line 414 and oversized headers 431, instead of dropping them."""

from __future__ import annotations

import socket

import pytest

from conftest import subprocess_env
from monitoring.tests.test_live_e2e import daphne

pytestmark = pytest.mark.django_db(transaction=True)


def exchange(port: int, head: bytes) -> bytes:
    """Send a request head, read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.fixture(scope="module")
def port():
    with daphne(subprocess_env(LOG_LEVEL="warning")) as port:
        yield port


def test_a_query_string_over_16_kb_answers_414(port):
    answer = exchange(port, b"GET /api/health/?q=" + b"x" * 17000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 URI Too Long\r\n"), answer[:200]


def test_one_header_over_16_kb_answers_431(port):
    answer = exchange(port, b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 17000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]


def test_headers_over_16_kb_together_answer_431(port):
    headers = b"".join(b"X-H%d: %s\r\n" % (n, b"z" * 1000) for n in range(20))
    answer = exchange(port, b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_request_within_the_limits_is_served(port):
    answer = exchange(
        port, b"GET /accounts/login/?q=" + b"x" * 8000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_a_client_that_sends_its_headers_too_slowly_is_cut_off():
    # Issue 14 D.30: a byte every half second restarted Twisted's idle timeout for ever.
    import time

    with daphne(subprocess_env(LOG_LEVEL="warning", HTTP_HEADER_TIMEOUT="2")) as slow_port:
        with socket.create_connection(("127.0.0.1", slow_port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            received = b""
            try:
                while time.monotonic() - started < 8:
                    sock.sendall(b"a")
                    sock.settimeout(0.5)
                    try:
                        chunk = sock.recv(4096)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    received += chunk
            except OSError:
                pass  # reset after the answer: cut off too
            took = time.monotonic() - started
        # A normal request on a fresh connection is unaffected.
        served = exchange(slow_port, b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert took < 6, f"still connected after {took:.1f} s"
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received[:200]
    assert served.startswith(b"HTTP/1.1 200 "), served[:200]
