"""Field rules for servers and notification configs, shared by the model (admin forms) and the API serializers."""

from __future__ import annotations

import functools
import ipaddress
import re
import string
import zoneinfo

from croniter import croniter
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

# Pure (no models): the one parser of assertion lists, shared with the probes.
from monitoring.assertions import errors as assertion_errors
from monitoring.assertions import protocol_errors as assertion_protocol_errors
from monitoring.choices import NotificationType, Protocol

HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
TAG = re.compile(rf"^[A-Za-z0-9_.:/-]{{1,{MAX_TAG_LENGTH}}}$")
# A server created without a timeout gets this one, or less to fit its interval (default_timeout).
DEFAULT_TIMEOUT = 10.0


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


def default_timeout(check_interval: int) -> float:
    """The timeout of a server created without one: 10 s, or ``check_interval - 1`` when that is less.

    SPEC §23: a server at the minimum interval (10 s) must be valid without a timeout, and a
    timeout must stay shorter than the interval (``server_errors``)."""
    return min(DEFAULT_TIMEOUT, float(check_interval - 1))


def server_errors(
    *,
    protocol: str,
    port: int | None,
    timeout: float | None,
    check_interval: int,
    host: str | None = None,
    schedule: str = "",
) -> dict[str, str]:
    """Rules across fields of a Server; an empty dict when it is consistent.

    ``host`` is judged only when given: every protocol but push needs one. A push server is
    never probed, so its timeout means nothing and is not judged. Only a push server has a
    cron ``schedule`` (SPEC §19)."""
    errors: dict[str, str] = {}
    if schedule and protocol != Protocol.PUSH:
        errors["schedule"] = "Only a push monitor has a schedule: leave it empty."
    if host is not None and not host and protocol != Protocol.PUSH:
        errors["host"] = f"A {protocol} server needs a host."
    if protocol in (Protocol.TCP, Protocol.GRPC) and port is None:
        errors["port"] = f"A {protocol} server needs a port (1-65535)."
    if protocol != Protocol.PUSH and timeout is not None and check_interval is not None and timeout >= check_interval:
        errors["timeout"] = "The timeout must be shorter than the check interval."
    return errors


# --- Cron schedules of push monitors (SPEC §19).

CRON_HELP = 'A cron expression of five fields (minute hour day month weekday), e.g. "0 3 * * *", or @daily.'


def validate_cron(value: str) -> None:
    """Five fields (no seconds), or one of croniter's @hourly, @daily, @weekly, @monthly, @yearly."""
    if not value:
        return
    fields = value.split()
    if not (len(fields) == 5 or (len(fields) == 1 and value.startswith("@"))) or not croniter.is_valid(value):
        raise ValidationError(CRON_HELP, code="schedule")


@functools.cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in time_zones():
        raise ValidationError("Not a time zone: use an IANA name such as UTC or Europe/Berlin.", code="time_zone")


# --- HTTP requests and assertions (SPEC §10).

MAX_REQUEST_HEADERS = 50
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 2000
MAX_REQUEST_BODY_BYTES = 64 * 1024
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
HTTP_PROTOCOLS = frozenset({Protocol.HTTP, Protocol.HTTPS})
# The kinds whose host and port come from their ``dsn`` (SPEC §19), and the URL schemes each takes.
DSN_SCHEMES: dict[str, tuple[str, ...]] = {
    Protocol.POSTGRES: ("postgresql", "postgres"),
    Protocol.MYSQL: ("mysql", "mariadb"),
    Protocol.REDIS: ("redis", "rediss"),
}
DSN_PROTOCOLS = frozenset(DSN_SCHEMES)
DSN_DEFAULT_PORTS = {Protocol.POSTGRES: 5432, Protocol.MYSQL: 3306, Protocol.REDIS: 6379}
_WEB_AND_WS = HTTP_PROTOCOLS | {Protocol.WEBSOCKET}
# Fields that only some kinds of check use: name → (default, the protocols that use it). A value
# other than the default on a server of another protocol is refused, naming the field (SPEC §10,
# §19); ``protocol_field_errors`` is the one rule, for the API, the admin, the web form and imports.
PROTOCOL_FIELDS: dict[str, tuple[object, frozenset[str]]] = {
    "request_headers": ({}, _WEB_AND_WS),
    "request_body": ("", HTTP_PROTOCOLS),
    "basic_auth_username": ("", HTTP_PROTOCOLS),
    "basic_auth_password": ("", HTTP_PROTOCOLS),
    "keyword_absent": (False, _WEB_AND_WS),
    "max_redirects": (10, HTTP_PROTOCOLS),
    "assertions": ([], _WEB_AND_WS),
    "ping_count": (3, frozenset({Protocol.PING})),
    "packet_loss_threshold": (100, frozenset({Protocol.PING})),
    "dns_record_type": ("A", frozenset({Protocol.DNS})),
    "dns_resolver": ("", frozenset({Protocol.DNS})),
    "dns_expected": ([], frozenset({Protocol.DNS})),
    "smtp_starttls": (None, frozenset({Protocol.SMTP})),
    "dsn": ("", DSN_PROTOCOLS),
    "db_query": ("", DSN_PROTOCOLS),
    "grpc_service": ("", frozenset({Protocol.GRPC})),
    "grpc_tls": (False, frozenset({Protocol.GRPC})),
    "ws_send": ("", frozenset({Protocol.WEBSOCKET})),
    "ws_tls": (False, frozenset({Protocol.WEBSOCKET})),
    "tcp_send": ("", frozenset({Protocol.TCP})),
    "tcp_expect": ("", frozenset({Protocol.TCP})),
}


def validate_basic_auth_username(value: str) -> None:
    """Basic auth sends ``user:password``: a ':' in the user name would move the split, and every check would fail."""
    if ":" in value:
        raise ValidationError("A basic-auth user name may not contain ':'.", code="basic_auth_username")


def validate_request_headers(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Request headers are a JSON object of name → value, e.g. {"Accept": "text/html"}.')
    if len(value) > MAX_REQUEST_HEADERS:
        raise ValidationError(f"At most {MAX_REQUEST_HEADERS} request headers.")
    problems = []
    for name, header in value.items():
        if not HEADER_NAME.match(name) or len(name) > MAX_HEADER_NAME:
            problems.append(f"{name[:MAX_HEADER_NAME]!r} is not a header name")
        elif not isinstance(header, str):
            problems.append(f"{name}: the value must be a string")
        elif len(header) > MAX_HEADER_VALUE:
            problems.append(f"{name}: the value is longer than {MAX_HEADER_VALUE} characters")
        elif any(c in header for c in "\r\n\x00"):
            problems.append(f"{name}: the value may not contain line breaks or NUL")
    if problems:
        raise ValidationError(problems)


def validate_request_body(value: str) -> None:
    if len(value.encode()) > MAX_REQUEST_BODY_BYTES:
        raise ValidationError(f"The request body is at most {MAX_REQUEST_BODY_BYTES // 1024} KiB.")


def validate_assertions(value: object) -> None:
    problems = assertion_errors(value)
    if problems:
        raise ValidationError(problems)


def protocol_field_errors(protocol: str, values: dict[str, object]) -> dict[str, str | list[str]]:
    """An error for each field of ``PROTOCOL_FIELDS`` that a ``protocol`` server does not use but
    that has a value other than its default (None counts as the default), and for assertions
    whose source the kind does not have: a push monitor's judge only its ``value`` (SPEC §19),
    no other kind's do (``assertions.protocol_errors``)."""
    errors: dict[str, str | list[str]] = {}
    push = protocol == Protocol.PUSH
    if "assertions" in values:
        problems = assertion_protocol_errors(values["assertions"], push=push)
        if problems:
            errors["assertions"] = problems
    for name, value in values.items():
        if name not in PROTOCOL_FIELDS or name in errors or (push and name == "assertions"):
            continue
        default, kinds = PROTOCOL_FIELDS[name]
        if protocol in kinds or value in (default, None):
            continue
        owners = ", ".join(sorted(kinds))
        label = "An HTTP-only field" if kinds == HTTP_PROTOCOLS else f"A field of {owners} servers only"
        errors[name] = f"{label}: leave it at its default ({default!r}) on a {protocol} server."
    return errors


# --- More kinds of checks (SPEC §19).

MIN_PING_COUNT, MAX_PING_COUNT = 1, 10
MAX_DNS_EXPECTED = 50
MAX_DNS_VALUE = 500
MAX_TCP_SEND_BYTES = 4096
TCP_ESCAPES = {"\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\t": "\t", "\\0": "\x00"}
_TCP_ESCAPE = re.compile(r"\\(\\|r|n|t|0|x[0-9A-Fa-f]{2})")


def unescape_tcp(text: str) -> bytes:
    """``tcp_send``/``tcp_expect`` as bytes: ``\\r``, ``\\n``, ``\\t``, ``\\0``, ``\\\\`` and ``\\xHH`` escapes
    become those bytes; everything else is UTF-8."""
    out = bytearray()
    position = 0
    for match in _TCP_ESCAPE.finditer(text):
        out += text[position : match.start()].encode()
        code = match.group(1)
        out += bytes([int(code[1:], 16)]) if code.startswith("x") else TCP_ESCAPES["\\" + code].encode()
        position = match.end()
    out += text[position:].encode()
    return bytes(out)


def validate_tcp_text(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("Write a NUL byte as \\0.", code="tcp_text")
    if len(unescape_tcp(value)) > MAX_TCP_SEND_BYTES:
        raise ValidationError(f"At most {MAX_TCP_SEND_BYTES} bytes.", code="tcp_text")


def parse_resolver(value: str) -> tuple[str, int]:
    """``dns_resolver`` as (address, port): ``ip`` or ``ip:port`` (IPv6 as ``[ip]:port`` or bare);
    ValueError otherwise."""
    text = value.strip()
    port = 53
    host = text
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("write an IPv6 resolver as [address]:port")
        if rest:
            port = _port(rest[1:])
    elif text.count(":") == 1:
        host, _, tail = text.partition(":")
        port = _port(tail)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("a resolver is an IP address, optionally with :port (e.g. 9.9.9.9 or 9.9.9.9:5353)") from None
    return str(address), port


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("the resolver's port is 1-65535")
    return int(text)


def validate_dns_resolver(value: str) -> None:
    if not value:
        return
    try:
        parse_resolver(value)
    except ValueError as exc:
        raise ValidationError(f"{str(exc)[0].upper()}{str(exc)[1:]}.", code="dns_resolver") from exc


def validate_dns_expected(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError('A list of answers as text, e.g. ["93.184.215.14"] or ["10 mail.example.com"].')
    if len(value) > MAX_DNS_EXPECTED:
        raise ValidationError(f"At most {MAX_DNS_EXPECTED} expected answers.")
    if any(not v.strip() or len(v) > MAX_DNS_VALUE or "\x00" in v for v in value):
        raise ValidationError(f"Each expected answer is 1-{MAX_DNS_VALUE} characters, without NUL.")


def normalize_dns_text(value: str) -> str:
    """How an answer and an expected value are compared: case-insensitive, no final dot, no
    surrounding quotes (TXT), single spaces."""
    text = " ".join(value.strip().split())
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return text.rstrip(".").lower()


def parse_dsn(protocol: str, dsn: str) -> tuple[str, int]:
    """A ``dsn`` of a ``protocol`` server as (host, port); ValueError with a reason otherwise."""
    from urllib.parse import urlsplit

    if any(c in dsn for c in "\x00\r\n ") or len(dsn) > 2000:
        raise ValueError("a DSN is one URL of at most 2000 characters, without spaces")
    schemes = DSN_SCHEMES.get(protocol, ())
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"a {protocol} DSN starts with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError("the DSN names no host")
    host = normalize_host(parts.hostname)
    return host, port or DSN_DEFAULT_PORTS[protocol]


# --- Certificate alerts (SPEC §13).

DEFAULT_CERT_ALERT_DAYS = (30, 14, 7, 1)
MAX_CERT_ALERT_DAYS = 10


def validate_alert_days(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ValidationError("A list of whole days, e.g. [30, 14, 7, 1].")
    if len(value) > MAX_CERT_ALERT_DAYS:
        raise ValidationError(f"At most {MAX_CERT_ALERT_DAYS} thresholds.")
    if any(not 0 <= d <= 365 for d in value):
        raise ValidationError("Each threshold is 0 … 365 days.")


# --- Notification configs of every type (SPEC §7, §18): checked by the model's clean() (admin)
# and by the API serializer (API and configuration import), so one place says what a type needs.

#: The service's root by default, to which each notifier appends the service's own API paths.
SERVICE_BASE_URLS: dict[str, str] = {
    NotificationType.TELEGRAM: "https://api.telegram.org",
    NotificationType.PAGERDUTY: "https://events.pagerduty.com",
    NotificationType.OPSGENIE: "https://api.opsgenie.com",
    NotificationType.NTFY: "https://ntfy.sh",
    NotificationType.PUSHOVER: "https://api.pushover.net",
}
#: Self-hosted only: no default root.
BASE_URL_REQUIRED = frozenset({NotificationType.GOTIFY, NotificationType.MATRIX})
BASE_URL_TYPES = frozenset(SERVICE_BASE_URLS) | BASE_URL_REQUIRED
#: The types of SPEC §7, whose ``secret`` is a generated signing key (minimum 16 characters).
SIGNING_SECRET_TYPES = frozenset(
    {
        NotificationType.EMAIL,
        NotificationType.WEBHOOK,
        NotificationType.SMS,
        NotificationType.DISCORD,
        NotificationType.SLACK,
    }
)
#: One key is the whole setting: given as ``secret`` (write-only), or else as ``recipient``.
KEY_TYPES: dict[str, str] = {
    NotificationType.PAGERDUTY: "the routing key of an Events API v2 integration",
    NotificationType.OPSGENIE: "the API key of an Opsgenie integration",
    NotificationType.GOTIFY: "the application token",
}
SECRET_REQUIRED: dict[str, str] = {
    NotificationType.TELEGRAM: "the bot token",
    NotificationType.PUSHOVER: "the application token",
    NotificationType.MATRIX: "the access token",
}
MAX_TITLE_TEMPLATE = 250
MAX_BODY_TEMPLATE = 2000
PLACEHOLDERS = (
    "server.name",
    "server.url",
    "status",
    "previous_status",
    "message",
    "time",
    "downtime",
    "incident_url",
    "ack_url",
)
TELEGRAM_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
NTFY_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PUSHOVER_KEY = re.compile(r"^[A-Za-z0-9]{1,64}$")
MATRIX_ROOM = re.compile(r"^![^\s:/]+:[^\s/]+$")
# A token travels in a header or a URL path: no spaces, line breaks or URL delimiters.
TOKEN = re.compile(r"^[^\s/?#%]+$")


def parse_template(template: str) -> list[tuple[str, str | None]]:
    """``[(literal, placeholder or None), …]``; ValueError naming what is wrong.

    ``string.Formatter`` does the parsing (so ``{{`` and ``}}`` are literal braces), but only
    the names of PLACEHOLDERS are accepted, bare: no index, attribute beyond them, conversion
    or format spec, so rendering is a lookup in a dict of strings and nothing else.
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{exc}; write {{{{ and }}}} for a literal brace.") from None
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parts:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise ValueError(f"Unknown placeholder {{{shown}}}; use {known}.")
        out.append((literal, name))
    return out


def render_template(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced by its value; one that does not parse renders as written."""
    try:
        parts = parse_template(template)
    except ValueError:
        return template
    return "".join(literal + (values.get(name, "") if name else "") for literal, name in parts)


def _http_url_error(value: str) -> str | None:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return "Enter an http(s) URL."
    return None


def notification_errors(
    kind: str,
    *,
    recipient: str,
    secret: str,
    api_base_url: str,
    title_template: str = "",
    body_template: str = "",
) -> dict[str, str]:
    """What is wrong with a notification config of type ``kind``, by field; empty when nothing.

    The recipient of the types of SPEC §7 (an e-mail address, a URL, a phone number) is judged
    by the API serializer as before; the private-address guard is the API's too (it resolves
    names, which this layer does not), and every send guards again.
    """
    errors: dict[str, str] = {}
    for name, template, limit in (
        ("title_template", title_template, MAX_TITLE_TEMPLATE),
        ("body_template", body_template, MAX_BODY_TEMPLATE),
    ):
        if len(template) > limit:
            errors[name] = f"At most {limit} characters."
            continue
        try:
            parse_template(template)
        except ValueError as exc:
            errors[name] = str(exc)
    if kind in BASE_URL_TYPES:
        if api_base_url:
            problem = _http_url_error(api_base_url)
            if problem is None and ("?" in api_base_url or "#" in api_base_url):
                problem = "The service's root URL, without a query or fragment."
            if problem:
                errors["api_base_url"] = problem
        elif kind in BASE_URL_REQUIRED:
            errors["api_base_url"] = f"A {kind} config needs the URL of its server, e.g. https://{kind}.example.com."
    elif api_base_url:
        errors["api_base_url"] = "Only " + ", ".join(sorted(BASE_URL_TYPES)) + " configs have an api_base_url."
    if kind in SECRET_REQUIRED and not secret:
        errors["secret"] = f"A {kind} config needs {SECRET_REQUIRED[kind]} here."
    elif kind not in SIGNING_SECRET_TYPES and secret and not TOKEN.match(secret):
        errors["secret"] = "A token without spaces, line breaks, '/', '?', '#' or '%'."
    if kind in KEY_TYPES:
        if not (secret or recipient):
            errors["secret"] = f"A {kind} config needs {KEY_TYPES[kind]}, as secret."
        elif not secret and not TOKEN.match(recipient):
            errors["recipient"] = "A key without spaces, line breaks, '/', '?', '#' or '%'."
        return errors
    problem = _recipient_error(kind, recipient)
    if problem:
        errors["recipient"] = problem
    return errors


def _recipient_error(kind: str, recipient: str) -> str | None:
    if kind in SIGNING_SECRET_TYPES:
        return None  # judged by the API serializer (validate_recipient), as in SPEC §7
    if not recipient:
        return "This field is required."
    if kind == NotificationType.TELEGRAM and not TELEGRAM_CHAT.match(recipient):
        return "A chat id (e.g. -1001234567890) or a public channel's @name."
    if kind == NotificationType.MSTEAMS:
        return _http_url_error(recipient)
    if kind == NotificationType.NTFY and not NTFY_TOPIC.match(recipient):
        return "A topic: 1-64 letters, digits, '-' or '_'."
    if kind == NotificationType.PUSHOVER and not PUSHOVER_KEY.match(recipient):
        return "A Pushover user or group key (letters and digits)."
    if kind == NotificationType.MATRIX and not MATRIX_ROOM.match(recipient):
        return "A room id such as !abcdefg:example.org (an #alias will not do)."
    if kind == NotificationType.APPRISE:
        return apprise_url_error(recipient)
    return None


def apprise_url_error(url: str) -> str | None:
    """None when Apprise knows the URL's scheme and accepts its form, else why not."""
    import apprise  # imported here: loading Apprise's plugins costs a moment, only paid by apprise configs

    if "://" not in url or apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        return "Not a URL Apprise accepts (see https://github.com/caronc/apprise/wiki), e.g. json://hooks.example.com/alerts."
    return None


#: Apprise schemes whose URL host is the receiving machine (self-hosted services): the
#: private-address guard judges it. Other schemes name a cloud service, and their "host" is
#: often an id or a token that must not be resolved.
APPRISE_HOST_SCHEMES = frozenset(
    {"json", "jsons", "form", "forms", "xml", "xmls", "gotify", "gotifys", "matrix", "matrixs"}
    | {"mmost", "mmosts", "rocket", "rockets", "apprise", "apprises", "ntfys", "mailto", "mailtos"}
    | {"mqtt", "mqtts", "ncloud", "nclouds", "nctalk", "nctalks"}
)


def apprise_host_url(url: str) -> str | None:
    """The URL to guard for an Apprise URL whose host is a machine, else None."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in APPRISE_HOST_SCHEMES:
        return None
    return f"https://{rest}"
