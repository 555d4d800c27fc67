"""The audit log's one writer (SPEC §17): ``record()`` a change made by a person or a key.

Callers write the row in the same transaction as the change (STYLE: "every change leaves a
row"), not from a signal that another code path could skip. For an update they take a
``snapshot()`` before and after and keep what ``diff()`` finds; a create keeps ``created()``.
Values are JSON-safe and secrets are masked (``MASK``): the log is read by team admins, who
must not learn a password or a push URL from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from authentication.models import AuditEntry
from authentication.throttle import client_address, parse_address

MASK = "••••"
# Field names whose values are secrets: Server.basic_auth_password, dsn and push_token,
# NotificationConfig.secret, an integration's token, api_key or routing_key, a badge key.
SECRET_NAME = re.compile(r"password|secret|token|api_?key|credential|private|(^|_)key$|^dsn$", re.IGNORECASE)
# Header maps (Server.request_headers): the names are shown, every value is masked, since
# Authorization, Cookie or X-Api-Key values are credentials.
HEADERS_NAME = re.compile(r"headers$", re.IGNORECASE)
# https://user:password@host in a recipient or target: the password part.
URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^/@\s]+@")


def client_ip(request: Any) -> str | None:
    """The client's address: REMOTE_ADDR, or the first untrusted hop of X-Forwarded-For when the
    request came through one of TRUSTED_PROXIES (the rule the login throttle counts by)."""
    meta = getattr(request, "META", None) or {}
    # Only an address fits the column: a server on a unix socket may pass none, or a path.
    address = parse_address(client_address(meta))
    return str(address) if address is not None else None


def _skipped(field: models.Field[Any, Any]) -> bool:
    """Fields a person does not change: the id, timestamps and the engine's own state
    (``editable=False``: status, next_check_at, leases), except secrets such as push_token."""
    if field.primary_key or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return True
    return not field.editable and not SECRET_NAME.search(field.name)


def snapshot(obj: Any) -> dict[str, Any]:
    """``{field: value}`` of what a person may change on ``obj``: its own fields (a relation as
    its id) and its many-to-many fields (sorted ids, read from a prefetch when there is one)."""
    values: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if not _skipped(field):
            values[field.name] = getattr(obj, field.attname)
    for field in obj._meta.many_to_many:
        if obj.pk is not None and not _skipped(field):
            values[field.name] = sorted(related.pk for related in getattr(obj, field.name).all())
    return values


def _json_safe(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return str(value)


def shown(name: str, value: Any) -> Any:
    """``value`` of the field ``name`` as the log shows it: JSON-safe, secrets masked."""
    if value is None or value == "":
        return value  # set or cleared stays visible; what it was does not
    if SECRET_NAME.search(name):
        return MASK
    if HEADERS_NAME.search(name):
        if isinstance(value, dict):
            return {str(k): MASK for k in value}
        return MASK
    if isinstance(value, str):
        return URL_PASSWORD.sub(rf"\g<1>{MASK}@", value)
    return _json_safe(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` of the fields whose value differs (compared unmasked, shown masked)."""
    changes: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changes[name] = [shown(name, old), shown(name, new)]
    return changes


def created(obj: Any) -> dict[str, list[Any]]:
    """A new object's values as changes from nothing: ``{field: [None, value]}``, empty ones left out."""
    return {
        name: [None, shown(name, value)] for name, value in snapshot(obj).items() if value not in (None, "", [], {})
    }


def _actor(request: Any) -> dict[str, Any]:
    principal = getattr(request, "user", None)
    key = getattr(principal, "api_key", None)
    if key is not None:
        return {"actor_type": "key", "actor_id": key.pk, "actor_name": key.name, "actor_ref": f"key:{key.prefix}"}
    pk = getattr(principal, "pk", None)
    return {
        "actor_type": "user",
        "actor_id": pk,
        "actor_name": principal.get_username() if principal is not None and pk else "",
        "actor_ref": str(pk or ""),
    }


def entry(
    request: Any,
    action: str,
    *,
    team_id: int | None,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    object_name: str = "",
    changes: dict[str, list[Any]] | None = None,
) -> AuditEntry:
    """An unsaved row (``record()`` saves one, ``record_many()`` saves a batch in one INSERT)."""
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or obj.pk
        object_name = object_name or str(obj)
    return AuditEntry(
        time=timezone.now(),
        team_id=team_id,
        action=action,
        object_type=object_type[:40],
        object_id=str(object_id or "")[:64],
        object_name=str(object_name)[:255],
        changes=changes or {},
        ip=client_ip(request),
        **_actor(request),
    )


def record(request: Any, action: str, **fields: Any) -> AuditEntry:
    """One row: who (``request.user``, a user or a team API key), what, on what, from where.

    ``fields`` are ``entry()``'s: ``team_id`` (required), ``obj`` or ``object_type``/``object_id``/
    ``object_name``, and ``changes``."""
    row = entry(request, action, **fields)
    row.save(force_insert=True)
    return row


def record_many(request: Any, action: str, objects: Iterable[tuple[int | None, Any]]) -> list[AuditEntry]:
    """One row per ``(team id, object)``, written in one INSERT (a bulk check of many servers)."""
    rows = [entry(request, action, team_id=team_id, obj=obj) for team_id, obj in objects]
    return AuditEntry.objects.bulk_create(rows)
