"""The audit log's one writer (SPEC §17): ``record()`` a change made by a person or a key."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from authentication.models import AuditEntry


def client_ip(request: Any) -> str | None:
    """The client's address as Django sees it (REMOTE_ADDR; a proxy in front sets it right)."""
    meta = getattr(request, "META", None) or {}
    return meta.get("REMOTE_ADDR") or None


def record(
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
    """One row: who (``request.user``, a user or a team API key), what, on what, from where."""
    principal = getattr(request, "user", None)
    key = getattr(principal, "api_key", None)
    if key is not None:
        actor = {"actor_type": "key", "actor_id": key.pk, "actor_name": key.name, "actor_ref": f"key:{key.prefix}"}
    else:
        actor = {
            "actor_type": "user",
            "actor_id": getattr(principal, "pk", None),
            "actor_name": principal.get_username() if principal is not None and principal.pk else "",
            "actor_ref": str(getattr(principal, "pk", "") or ""),
        }
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or obj.pk
        object_name = object_name or str(obj)
    return AuditEntry.objects.create(
        time=timezone.now(),
        team_id=team_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        object_name=str(object_name)[:255],
        changes=changes or {},
        ip=client_ip(request),
        **actor,
    )
