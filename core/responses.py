"""Answers sent straight over ASGI, before Django (the overload bounds and the lean push path)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

JSON = ((b"content-type", b"application/json"),)


async def send_json(
    send: Any,
    status: int,
    body: object,
    *,
    retry_after: int | None = None,
    headers: Sequence[tuple[bytes, bytes]] = JSON,
) -> None:
    """``body`` as a compact JSON answer with ``status``, ``headers`` (a content type among them)
    and ``Retry-After`` when given."""
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = [*headers, (b"content-length", str(len(content)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
