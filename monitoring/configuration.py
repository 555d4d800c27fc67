"""Configuration as code (SPEC §16): one account's servers, their notification configs, its
maintenance windows and its status pages as one document, exported and imported through the
same API serializers.

The exported fields are derived from the serializers — every writable field that is not a
secret (write-only) — so a field another feature adds to ``ServerSerializer`` is exported and
imported with no change here. Import is all or nothing:

1. Check the document's shape (``version: 1``, lists), then validate every item with its API
   serializer, upserting by server ``name``, by ``notification_type`` + ``recipient`` within a
   server, by ``name`` for maintenance windows and by ``slug`` for pages; windows and pages
   name their servers by name.
2. If any item has errors, answer them all, item by item, and write nothing.
3. Otherwise write everything in one transaction (rolled back for a dry run) and count what
   was created, updated and left unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from rest_framework import serializers

from monitoring.models import MaintenanceWindow, Server, StatusPage
from monitoring.serializers import (
    MaintenanceWindowSerializer,
    NotificationConfigSerializer,
    ServerSerializer,
    StatusPageSerializer,
)

VERSION = 1
MAX_ITEMS = 10_000


def exported_fields(serializer: serializers.Serializer, leave_out: set[str]) -> list[str]:
    """Writable, non-secret fields of ``serializer`` in declaration order, minus ``leave_out``."""
    return [
        name
        for name, f in serializer.fields.items()
        if not f.read_only and not f.write_only and name not in leave_out and name != "id"
    ]


def _context(user: Any) -> dict[str, Any]:
    # The serializers read the user from the request; commands have no request.
    return {"request": SimpleNamespace(user=user)}


def server_fields(user: Any) -> list[str]:
    return exported_fields(ServerSerializer(context=_context(user)), set())


def config_fields(user: Any) -> list[str]:
    return exported_fields(NotificationConfigSerializer(context=_context(user)), {"server"})


def page_fields(user: Any) -> list[str]:
    return exported_fields(StatusPageSerializer(context=_context(user)), {"servers"})


def window_fields(user: Any) -> list[str]:
    return exported_fields(MaintenanceWindowSerializer(context=_context(user)), {"servers"})


class _ImportedWindowSerializer(MaintenanceWindowSerializer):
    """A window whose ``servers`` are server names (of the account or of the same document).

    The names stand in for the servers in the API serializer's own rules ("servers and/or
    tags"); ``_write`` turns them into ids once the document's servers exist.
    """

    servers = serializers.ListField(child=serializers.CharField(), required=False)

    def validate_servers(self, value: list[str]) -> list[str]:
        missing = sorted(set(value) - self.context["known_names"])
        if missing:
            raise serializers.ValidationError(f"No server named {', '.join(map(repr, missing))}.")
        return sorted(set(value))


def export_config(user: Any) -> dict[str, Any]:
    """The account's configuration as a plain document (JSON or YAML)."""
    ctx = _context(user)
    s_fields, c_fields, p_fields = server_fields(user), config_fields(user), page_fields(user)
    servers = (
        Server.objects.filter(owner=user)
        .select_related("owner", "server_status")
        .prefetch_related("notification_configs")
    )
    names = {}
    out_servers = []
    for server in servers.order_by("name", "id"):
        names[server.pk] = server.name
        data = ServerSerializer(server, context=ctx).data
        item = {k: data[k] for k in s_fields}
        configs = sorted(server.notification_configs.all(), key=lambda c: (c.notification_type, c.recipient, c.pk))
        item["notification_configs"] = [
            {k: v for k, v in NotificationConfigSerializer(c, context=ctx).data.items() if k in c_fields}
            for c in configs
        ]
        out_servers.append(item)
    pages = []
    for page in StatusPage.objects.filter(owner=user).prefetch_related("servers").order_by("slug"):
        data = StatusPageSerializer(page, context=ctx).data
        item = {k: data[k] for k in p_fields}
        item["servers"] = sorted(names[s.pk] for s in page.servers.all())
        pages.append(item)
    w_fields = window_fields(user)
    windows = []
    owned_windows = MaintenanceWindow.objects.filter(owner=user).select_related("owner").prefetch_related("servers")
    for window in owned_windows.order_by("name", "id"):
        data = MaintenanceWindowSerializer(window, context=ctx).data
        item = {k: data[k] for k in w_fields}
        item["servers"] = sorted(names[s.pk] for s in window.servers.all())
        windows.append(item)
    return {"version": VERSION, "servers": out_servers, "maintenance_windows": windows, "status_pages": pages}


class ConfigError(Exception):
    """The document is invalid; ``errors`` says where, item by item."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid configuration")
        self.errors = errors


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class _Plan:
    """One validated object to write: its serializer, or nothing to do when unchanged."""

    serializer: serializers.Serializer
    changed: bool
    children: list[_Plan] = field(default_factory=list)
    server_names: list[str] | None = None


def _is_unchanged(instance: Any, validated: dict[str, Any]) -> bool:
    return all(getattr(instance, k) == v for k, v in validated.items())


def _item_list(doc: dict[str, Any], key: str, errors: dict[str, Any]) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        errors[key] = ["Expected a list."]
        return []
    if len(value) > MAX_ITEMS:
        errors[key] = [f"At most {MAX_ITEMS} items."]
        return []
    return value


def _plan_configs(server: Server | None, items: Any, ctx: dict[str, Any]) -> tuple[list[_Plan], Any]:
    if not isinstance(items, list):
        return [], ["Expected a list."]
    existing = {(c.notification_type, c.recipient): c for c in server.notification_configs.all()} if server else {}
    plans, errors, seen, bad = [], [], set(), False
    for item in items:
        if not isinstance(item, dict):
            errors.append({"non_field_errors": ["Expected an object."]})
            bad = True
            continue
        instance = existing.get((item.get("notification_type"), item.get("recipient")))
        s = NotificationConfigSerializer(instance, data=item, context=ctx)
        s.fields.pop("server")
        if not s.is_valid():
            errors.append(s.errors)
            bad = True
            continue
        key = (s.validated_data["notification_type"], s.validated_data["recipient"])
        if key in seen:
            errors.append({"recipient": ["The same notification_type and recipient appear twice."]})
            bad = True
            continue
        seen.add(key)
        errors.append({})
        plans.append(_Plan(s, changed=instance is None or not _is_unchanged(instance, s.validated_data)))
    return plans, errors if bad else None


def import_config(user: Any, doc: Any, dry_run: bool = False) -> dict[str, int]:
    """Validate ``doc`` whole, then write it (or, for a dry run, only count); ConfigError when invalid."""
    if not isinstance(doc, dict):
        raise ConfigError({"non_field_errors": ["Expected an object with version, servers and status_pages."]})
    errors: dict[str, Any] = {}
    if doc.get("version") != VERSION:
        errors["version"] = [f"Expected {VERSION}."]
    unknown = set(doc) - {"version", "servers", "maintenance_windows", "status_pages"}
    if unknown:
        errors["non_field_errors"] = [f"Unknown key(s): {', '.join(sorted(map(str, unknown)))}."]
    server_items = _item_list(doc, "servers", errors)
    window_items = _item_list(doc, "maintenance_windows", errors)
    page_items = _item_list(doc, "status_pages", errors)

    ctx = _context(user)
    owned: dict[str, list[Server]] = {}
    for server in Server.objects.filter(owner=user).prefetch_related("notification_configs"):
        owned.setdefault(server.name, []).append(server)

    server_plans: list[_Plan] = []
    server_errors: list[Any] = []
    names_in_doc: set[str] = set()
    for item in server_items:
        if not isinstance(item, dict):
            server_errors.append({"non_field_errors": ["Expected an object."]})
            continue
        name = item.get("name")
        matches = owned.get(name, []) if isinstance(name, str) else []
        item_errors: dict[str, Any] = {}
        if len(matches) > 1:
            item_errors["name"] = [f"You have {len(matches)} servers named {name!r}; rename them to import by name."]
        if isinstance(name, str) and name in names_in_doc:
            item_errors["name"] = [f"{name!r} appears twice in the document."]
        instance = matches[0] if len(matches) == 1 else None
        data = {k: v for k, v in item.items() if k != "notification_configs"}
        s = ServerSerializer(instance, data=data, context=ctx)
        if not s.is_valid():
            item_errors.update(s.errors)
        children, child_errors = _plan_configs(instance, item.get("notification_configs", []), ctx)
        if child_errors:
            item_errors["notification_configs"] = child_errors
        server_errors.append(item_errors)
        if item_errors:
            continue
        names_in_doc.add(s.validated_data["name"])
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        server_plans.append(_Plan(s, changed=changed, children=children))
    if any(server_errors):
        errors["servers"] = server_errors

    # Every name the document gives counts as known, even on an invalid item: that item's own
    # errors say what is wrong, and a window or page naming it needs no second, misleading one.
    named = {i["name"] for i in server_items if isinstance(i, dict) and isinstance(i.get("name"), str)}
    known_names = names_in_doc | named | set(owned)
    window_plans, window_errors = _plan_windows(user, window_items, known_names)
    if window_errors:
        errors["maintenance_windows"] = window_errors
    slugs = [i.get("slug") for i in page_items if isinstance(i, dict)]
    pages = {p.slug: p for p in StatusPage.objects.filter(slug__in=[s for s in slugs if isinstance(s, str)])}
    seen_slugs: set[str] = set()
    page_plans: list[_Plan] = []
    page_errors: list[Any] = []
    for item in page_items:
        if not isinstance(item, dict):
            page_errors.append({"non_field_errors": ["Expected an object."]})
            continue
        slug = item.get("slug")
        instance = pages.get(slug) if isinstance(slug, str) else None
        item_errors: dict[str, Any] = {}
        if isinstance(slug, str) and slug in seen_slugs:
            item_errors["slug"] = [f"{slug!r} appears twice in the document."]
        seen_slugs.add(slug) if isinstance(slug, str) else None
        if instance is not None and instance.owner_id != user.pk:
            item_errors["slug"] = ["Another account already uses this slug."]
            instance = None
        names = item.get("servers", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            item_errors["servers"] = ["Expected a list of server names."]
            names = []
        missing = sorted(set(names) - known_names)
        if missing:
            item_errors["servers"] = [f"No server named {', '.join(map(repr, missing))}."]
        data = {k: v for k, v in item.items() if k != "servers"}
        s = StatusPageSerializer(instance, data=data, context=ctx)
        s.fields.pop("servers")
        if not s.is_valid() and not item_errors.get("slug"):
            item_errors.update(s.errors)
        page_errors.append(item_errors)
        if item_errors:
            continue
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        if instance is not None and sorted(instance.servers.values_list("name", flat=True)) != sorted(names):
            changed = True
        page_plans.append(_Plan(s, changed=changed, server_names=list(names)))
    if any(page_errors):
        errors["status_pages"] = page_errors
    if errors:
        raise ConfigError(errors)
    return _write(user, server_plans, window_plans, page_plans, dry_run)


def _plan_windows(user: Any, items: list[Any], known_names: set[str]) -> tuple[list[_Plan], list[Any] | None]:
    """Validate each window, upserting by ``name`` among the account's windows."""
    ctx = {**_context(user), "known_names": known_names}
    owned: dict[str, list[MaintenanceWindow]] = {}
    for window in MaintenanceWindow.objects.filter(owner=user).prefetch_related("servers"):
        owned.setdefault(window.name, []).append(window)
    plans: list[_Plan] = []
    errors: list[Any] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            errors.append({"non_field_errors": ["Expected an object."]})
            continue
        name = item.get("name")
        matches = owned.get(name, []) if isinstance(name, str) else []
        item_errors: dict[str, Any] = {}
        if len(matches) > 1:
            item_errors["name"] = [f"You have {len(matches)} windows named {name!r}; rename them to import by name."]
        if isinstance(name, str) and name in seen:
            item_errors["name"] = [f"{name!r} appears twice in the document."]
        instance = matches[0] if len(matches) == 1 else None
        # Servers left out means none, as for a page (not "keep the current ones").
        s = _ImportedWindowSerializer(instance, data={**item, "servers": item.get("servers", [])}, context=ctx)
        if not s.is_valid():
            item_errors = {**s.errors, **item_errors}
        errors.append(item_errors)
        if item_errors:
            continue
        seen.add(s.validated_data["name"])
        names = s.validated_data.pop("servers", [])
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        if instance is not None and sorted(server.name for server in instance.servers.all()) != names:
            changed = True
        plans.append(_Plan(s, changed=changed, server_names=names))
    return plans, errors if any(errors) else None


def _count(counts: Counts, plan: _Plan) -> None:
    if plan.serializer.instance is None:
        counts.created += 1
    elif plan.changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def _write(
    user: Any, server_plans: list[_Plan], window_plans: list[_Plan], page_plans: list[_Plan], dry_run: bool
) -> dict[str, int]:
    counts = Counts()
    with transaction.atomic():
        by_name: dict[str, int] = dict(Server.objects.filter(owner=user).values_list("name", "pk"))
        for plan in server_plans:
            _count(counts, plan)
            server = plan.serializer.instance
            if plan.changed:
                server = plan.serializer.save(owner=user) if server is None else plan.serializer.save()
            by_name[server.name] = server.pk
            for child in plan.children:
                _count(counts, child)
                if child.changed:
                    child.serializer.save(server=server)
        for plan in window_plans:
            _count(counts, plan)
            if plan.changed:
                window = plan.serializer.save(**({"owner": user} if plan.serializer.instance is None else {}))
                window.servers.set([by_name[n] for n in plan.server_names or []])
        for plan in page_plans:
            _count(counts, plan)
            if plan.changed:
                page = plan.serializer.save(owner=user) if plan.serializer.instance is None else plan.serializer.save()
                page.servers.set([by_name[n] for n in plan.server_names or []])
        if dry_run:
            transaction.set_rollback(True)
    return counts.as_dict()
