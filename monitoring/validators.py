"""Field rules for servers, shared by the model (admin forms) and the API serializers."""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError

from monitoring.choices import Protocol

HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
TAG = re.compile(r"^[A-Za-z0-9_.:/-]{1,50}$")
MAX_TAGS = 20


def normalize_host(value: str) -> str:
    """A hostname (RFC 1123, lower-cased) or an IP address; ValidationError otherwise."""
    host = value.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(HOSTNAME_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValidationError(
            "Enter a hostname (e.g. example.com) or an IP address, without scheme, port or path.", code="host"
        )
    return host.rstrip(".").lower()


def validate_host(value: str) -> None:
    normalize_host(value)


def parse_status_codes(spec: str) -> list[tuple[int, int]]:
    """Parse ``"200-299,301"`` into inclusive ranges; ValueError with a reason if malformed."""
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        if not low.strip().isdigit() or (sep and not high.strip().isdigit()):
            raise ValueError(f"{part!r} is not a status code or a range like 200-299")
        lo, hi = int(low), int(high) if sep else int(low)
        if not (100 <= lo <= 599 and 100 <= hi <= 599) or lo > hi:
            raise ValueError(f"{part!r} is outside 100-599 or reversed")
        ranges.append((lo, hi))
    if not ranges:
        raise ValueError("give at least one status code, e.g. 200-299")
    return ranges


def validate_status_codes(value: str) -> None:
    try:
        parse_status_codes(value)
    except ValueError as exc:
        raise ValidationError(f"{exc} (e.g. 200-299,301).", code="status_codes") from exc


def validate_tags(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError("Tags are a list of strings.", code="tags")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags.", code="tags")
    bad = [tag for tag in value if not TAG.match(tag)]
    if bad:
        raise ValidationError(
            f"Tags are 1-50 letters, digits or _.:/- characters; not: {', '.join(map(repr, bad))}.", code="tags"
        )


def server_errors(
    *, protocol: str, port: int | None, timeout: float, check_interval: int, host: str | None = None
) -> dict[str, str]:
    """Rules across fields of a Server; an empty dict when it is consistent.

    ``host`` is judged only when given: every protocol but push needs one."""
    errors: dict[str, str] = {}
    if host is not None and not host and protocol != Protocol.PUSH:
        errors["host"] = f"A {protocol} server needs a host."
    if protocol == Protocol.TCP and port is None:
        errors["port"] = "A tcp server needs a port (1-65535)."
    if timeout is not None and check_interval is not None and timeout >= check_interval:
        errors["timeout"] = "The timeout must be shorter than the check interval."
    return errors
