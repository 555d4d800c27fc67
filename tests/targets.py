"""Real network targets on 127.0.0.1 for probe and notifier tests (never another address)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    status: int = 200
    body: str = "OK"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LocalHTTPServer:
    """A threaded HTTP server on a free loopback port.

    ``set(path, status=…, body=…, delay=…)`` decides what a path answers; ``queue(path, …)``
    adds one-shot answers used in order before falling back to the set route (a receiver
    that fails on demand). Every request is kept in ``requests``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.routes: dict[str, Route] = {}
        self.queued: dict[str, list[Route]] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms stall

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with outer._lock:
                    outer.requests.append(Received(self.command, self.path, dict(self.headers), body))
                    queue = outer.queued.get(path)
                    route = queue.pop(0) if queue else outer.routes.get(path, Route(404, "not found"))
                if route.delay:
                    time.sleep(route.delay)
                payload = route.body.encode()
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", route.headers.get("Content-Type", "text/plain; charset=utf-8"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def finish_request(self, request: Any, client_address: Any) -> None:
                # TLS handshakes happen here, on the request's own thread, so one slow or
                # refused handshake never blocks accept() for everyone else.
                if hasattr(request, "do_handshake"):
                    try:
                        request.do_handshake()
                    except OSError:
                        return
                super().finish_request(request, client_address)

        self.httpd = Server((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def set(self, path: str, status: int = 200, body: str = "OK", delay: float = 0.0, **headers: str) -> None:
        self.routes[path] = Route(status, body, delay, {k.replace("_", "-"): v for k, v in headers.items()})

    def queue(self, path: str, status: int = 200, body: str = "OK", delay: float = 0.0) -> None:
        self.queued.setdefault(path, []).append(Route(status, body, delay))

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def open_tcp_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A listening TCP socket that accepts connections (the kernel completes the handshake)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(64)
        yield sock.getsockname()[1]


class SilentListener:
    """A receiver that accepts connections and never answers (a host that hangs every request).

    ``held`` counts the connections it holds open; ``close()`` drops them all, so a client
    waiting on one fails at once.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append(conn)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self.connections)

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        self.sock.close()
        with self._lock:
            for conn in self.connections:
                conn.close()

    def __enter__(self) -> SilentListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_port(host: str = "127.0.0.1") -> int:
    return closed_port(host)


def self_signed_cert(directory: str, hostname: str = "localhost") -> tuple[str, str]:
    """Write a throwaway self-signed certificate and key for 127.0.0.1/localhost; return their paths."""
    import datetime
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


class LocalHTTPSServer(LocalHTTPServer):
    """LocalHTTPServer behind TLS with a self-signed certificate (not trusted by default)."""

    def __init__(self, cert_path: str, key_path: str, host: str = "127.0.0.1") -> None:
        import ssl

        super().__init__(host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)

    def url(self, path: str = "/") -> str:
        return super().url(path).replace("http://", "https://", 1)
