"""Configuration as code (SPEC §16): one account's servers, their notification configs, its
maintenance windows and its status pages as one document, exported and imported through the
same API serializers.

The exported fields are derived from the serializers — every writable field that is not a
secret (write-only) — so a field another feature adds to ``ServerSerializer`` is exported and
imported with no change here. Import is all or nothing:

1. Check the document's shape (``version`` the whole number 1, lists), then validate every
   item with its API serializer, upserting by server ``name``, by ``notification_type`` +
   ``recipient`` among the team's notification configs, by ``name`` for maintenance windows
   and by ``slug`` for pages; configs, windows and pages name their servers by name. A
   part-two document (configs nested in each server) still imports: each nested config joins
   the team config of its type and recipient, and its server is added to that config's.
   Names are compared trimmed, as the serializers store them; twins (``_pair``) are matched in export order.
2. If any item has errors, answer each bad item as ``{"index", "name", "errors"}`` (SPEC §23),
   and write nothing; past an account quota (``api.quotas``), answer that and write nothing.
3. Otherwise write everything in one transaction (rolled back for a dry run) and count what
   was created, updated and left unchanged.

Documents arrive parsed: ``api.parsers.load_yaml`` bounds a YAML one by its nodes after alias
expansion, for the API and the ``import_config`` command alike.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from rest_framework import serializers
from rest_framework.fields import SkipField

from api import quotas
from api.parsers import collector_paused
from api.serializers.maintenance import MaintenanceWindowSerializer
from api.serializers.notifications import NotificationConfigSerializer
from api.serializers.rows import Rows
from api.serializers.servers import ServerSerializer
from api.serializers.statuspages import StatusPageSerializer
from authentication.models import Team
from authentication.teams import default_team
from monitoring.models import MaintenanceWindow, NotificationConfig, Server, ServerLocation, StatusPage
from monitoring.models.servers import dependency_cycle
from monitoring.services.locations import servers as server_locations

VERSION = 1


def exported_fields(serializer: serializers.Serializer, leave_out: set[str]) -> list[str]:
    """Writable, non-secret fields of ``serializer`` in declaration order, minus ``leave_out``."""
    return [
        name
        for name, f in serializer.fields.items()
        if not f.read_only and not f.write_only and name not in leave_out and name != "id"
    ]


def _context(user: Any, team: Team | None = None) -> dict[str, Any]:
    # The serializers read the user from the request (commands have none), and the team an
    # import writes into from ``team``.
    return {"request": SimpleNamespace(user=user), "team": team}


def server_fields(user: Any) -> list[str]:
    # A server's configs are the document's ``notification_configs``, which name their servers;
    # an escalation policy is named by id, which means nothing in another team or database.
    return exported_fields(
        ServerSerializer(context=_context(user)), {"team", "notification_configs", "escalation_policy"}
    )


#: Part two's switches are views of ``events``, which the document carries.
CONFIG_LEFT_OUT = {
    "server",
    "servers",
    "secret",
    "team",
    "notify_on_failure",
    "notify_on_recovery",
    "notify_on_degraded",
}


def config_fields(user: Any) -> list[str]:
    # ``secret`` is writable and not write-only (the create response shows it once), but secret.
    return exported_fields(NotificationConfigSerializer(context=_context(user)), CONFIG_LEFT_OUT)


def page_fields(user: Any) -> list[str]:
    # The layout names servers by id and the logo is a file: neither travels between installations.
    return exported_fields(StatusPageSerializer(context=_context(user)), {"servers", "team", "groups", "logo"})


def window_fields(user: Any) -> list[str]:
    return exported_fields(MaintenanceWindowSerializer(context=_context(user)), {"servers", "team"})


class _FieldsOnce:
    """A serializer that builds its fields once per import and copies them for each item.

    A ModelSerializer derives its fields from the model for every instance it is made for
    (7 ms for a server): two thirds of the time of importing thousands of items. The copies
    live in the import's context, so nothing outlives one import.
    """

    context: dict[str, Any]

    def get_fields(self) -> dict[str, serializers.Field]:
        built = self.context.setdefault("built_fields", {})
        if type(self) not in built:
            fields = super().get_fields()  # type: ignore[misc]
            fields.pop("team", None)  # the whole document goes to the import's team
            fields.pop("depends_on", None)  # names, set by ``_write`` once the servers exist
            built[type(self)] = fields
        return copy.deepcopy(built[type(self)])


class _ImportedServerSerializer(_FieldsOnce, ServerSerializer):
    pass


class _ImportedConfigSerializer(_FieldsOnce, NotificationConfigSerializer):
    pass


class _ImportedPageSerializer(_FieldsOnce, StatusPageSerializer):
    pass


class _ImportedWindowSerializer(_FieldsOnce, MaintenanceWindowSerializer):
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


def _represent(serializer: serializers.Serializer, names: list[str], instance: Any) -> dict[str, Any]:
    """``names`` of ``instance`` as ``serializer`` represents them, field by field as DRF does.

    A serializer built once and asked only for the exported fields: building one per object
    (DRF deep-copies its fields) and rendering the read-only ones (uptime, push URL) was most
    of a 5,000-server export's 29 s.
    """
    fields = serializer.fields
    out: dict[str, Any] = {}
    for name in names:
        try:
            attribute = fields[name].get_attribute(instance)
        except SkipField:
            continue
        out[name] = None if attribute is None else fields[name].to_representation(attribute)
    return out


def _server_items(serializer: serializers.Serializer, names: list[str], team: Team) -> list[tuple[int, dict]]:
    """Each of the team's servers (by name) as ``(id, its exported fields)``, read as rows
    (``api.serializers.rows``) rather than as model instances through the serializer's
    ``get_attribute``: a 5,000-server export spent 1.5 s there. Every exported field but
    ``depends_on`` and ``locations`` (added by ``_export``) is a column; a field that is not (a
    method, a relation) is named in the error, to be exported as those are."""
    exported = [name for name in names if name not in ("depends_on", "locations")]
    rows = Rows(serializer, exported, columns_only=True)
    values = rows.values(Server.objects.filter(team=team).order_by("name", "id"))
    return [(pk, item) for pk, _, item in rows.represent(list(values), values.db)]


def _servers_of(relation: Any, team: Team) -> dict[int, list[int]]:
    """The ids of the servers each of the team's objects names through the many-to-many
    ``relation`` (e.g. ``NotificationConfig.servers``), read from its table in one query."""
    field = relation.field
    owner, server = field.m2m_field_name(), field.m2m_reverse_field_name()
    linked: dict[int, list[int]] = {}
    rows = relation.through.objects.filter(**{f"{owner}__team": team}).values_list(f"{owner}_id", f"{server}_id")
    for owner_id, server_id in rows:
        linked.setdefault(owner_id, []).append(server_id)
    return linked


#: Each server's location rows (with their locations) for a whole team in one query (import).
_LOCATION_ROWS = Prefetch("location_states", ServerLocation.objects.select_related("location"))


def export_config(user: Any, team: Team | None = None) -> dict[str, Any]:
    """The team's configuration (default: the user's personal team) as a plain document (JSON or
    YAML), in eight queries whatever its size."""
    with collector_paused():
        return _export(user, team or default_team(user))


def _export(user: Any, team: Team) -> dict[str, Any]:
    ctx = _context(user, team)
    s_fields, c_fields = server_fields(user), config_fields(user)
    p_fields, w_fields = page_fields(user), window_fields(user)
    servers = _server_items(ServerSerializer(context=ctx), s_fields, team)
    # Related servers (dependencies, a config's, a page's, a window's) are the team's: named here.
    names = {pk: item["name"] for pk, item in servers}
    dependencies = _servers_of(Server.depends_on, team)
    out_servers = []
    ids = [pk for pk, _ in servers]
    places = server_locations.slugs_of(ids, Server.objects.filter(team=team)) if "locations" in s_fields else None
    for pk, item in servers:
        if places is not None:  # slugs in order; no rows: the scheduler's own (models.locations)
            item["locations"] = places[pk]
        if pk in dependencies:  # left out when none, so documents without dependencies read as before
            item["depends_on"] = sorted({names[d] for d in dependencies[pk]})
        out_servers.append(item)

    def named(linked: dict[int, list[int]], pk: int) -> list[str]:
        return sorted(names[s] for s in linked.get(pk, ()))

    config_serializer = NotificationConfigSerializer(context=ctx)
    config_servers = _servers_of(NotificationConfig.servers, team)
    configs = []
    for config in sorted(
        NotificationConfig.objects.filter(team=team), key=lambda c: (c.notification_type, c.recipient, c.pk)
    ):
        item = _represent(config_serializer, c_fields, config)
        item["servers"] = named(config_servers, config.pk)
        configs.append(item)
    page_serializer = StatusPageSerializer(context=ctx)
    page_servers = _servers_of(StatusPage.servers, team)
    pages = []
    for page in StatusPage.objects.filter(team=team).order_by("slug"):
        item = _represent(page_serializer, p_fields, page)
        item["servers"] = named(page_servers, page.pk)
        pages.append(item)
    window_serializer = MaintenanceWindowSerializer(context=ctx)
    window_servers = _servers_of(MaintenanceWindow.servers, team)
    windows = []
    for window in MaintenanceWindow.objects.filter(team=team).order_by("name", "id"):
        item = _represent(window_serializer, w_fields, window)
        item["servers"] = named(window_servers, window.pk)
        windows.append(item)
    return {
        "version": VERSION,
        "servers": out_servers,
        "notification_configs": configs,
        "maintenance_windows": windows,
        "status_pages": pages,
    }


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
    # A config's servers: the document's list replaces them, or (a part-two document, which
    # nested configs in servers) its servers are added to them.
    add_servers: bool = False


def _is_unchanged(instance: Any, validated: dict[str, Any]) -> bool:
    def same(name: str, value: Any) -> bool:
        if name == "locations":  # rows, compared as the slugs in order
            return server_locations.slugs(instance) == [location.slug for location in value]
        return bool(getattr(instance, name) == value)

    return all(same(k, v) for k, v in validated.items())


def _name(value: Any) -> str | None:
    """A name as the serializers store it (DRF trims), for comparing; None when not a string.

    "dup", "dup " and " dup" are one name: the document's copies are twins, and a server
    stored with spaces before names were trimmed is still found by its trimmed name.
    """
    return value.strip() if isinstance(value, str) else None


def _bad(index: int, name: Any, errors: Any) -> dict[str, Any]:
    """One invalid item, named by its position (from 0) and its name, as SPEC §23 asks."""
    return {"index": index, "name": _name(name), "errors": errors}


def _pair(keys: list[Any], stored: dict[Any, list[Any]], noun: str) -> list[tuple[Any, str | None]]:
    """For each document item's key, the stored object it updates (None: a new one), or why not.

    Items are matched by key: a trimmed name, or a config's type and recipient. The API allows
    twins (one key on several objects); they are matched in order, the n-th item to the n-th
    object as the export lists them, so an account's own export always imports back. Otherwise
    a document may not give a key twice (it would make twins), nor match only some of an
    account's twins (which one was meant?).
    """
    wanted = Counter(key for key in keys if key is not None)
    taken: Counter[Any] = Counter()
    paired: list[tuple[Any, str | None]] = []
    for key in keys:
        if key is None:
            paired.append((None, None))
            continue
        have, n = stored.get(key, []), taken[key]
        taken[key] += 1
        shown = " ".join(key) if isinstance(key, tuple) else key
        if len(have) > 1 and wanted[key] != len(have):
            reason = f"You have {len(have)} {noun} {shown!r} and the document {wanted[key]}; give each or rename them."
            paired.append((None, reason))
        elif n >= max(len(have), 1):
            paired.append((None, f"{shown!r} appears twice in the document."))
        else:
            paired.append((have[n] if n < len(have) else None, None))
    return paired


def _item_list(doc: dict[str, Any], key: str, errors: dict[str, Any]) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        errors[key] = ["Expected a list."]
        return []
    limit = settings.MAX_IMPORT_ITEMS
    if limit and len(value) > limit:
        errors[key] = [f"At most {limit:,} items (MAX_IMPORT_ITEMS)."]
        return []
    return value


def _validate_nested_configs(items: Any, ctx: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """A part-two document's configs of one server: each checked alone (errors stay with the
    server, as they did); the valid ones are planned with the team's configs."""
    if not isinstance(items, list):
        return [], ["Expected a list."]
    valid: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(_bad(index, None, {"non_field_errors": ["Expected an object."]}))
            continue
        s = _config_serializer(None, item, ctx)
        if not s.is_valid():
            errors.append(_bad(index, item.get("recipient"), dict(s.errors)))
            continue
        valid.append(item)
    return valid, errors or None


def _config_serializer(instance: NotificationConfig | None, item: dict[str, Any], ctx: dict[str, Any]) -> Any:
    s = _ImportedConfigSerializer(instance, data={k: v for k, v in item.items() if k != "servers"}, context=ctx)
    s.fields.pop("server")
    s.fields.pop("servers")
    return s


def _plan_configs(
    team: Team, items: list[Any], nested: list[tuple[str, dict[str, Any]]], known_names: set[str], ctx: dict[str, Any]
) -> tuple[list[_Plan], Any]:
    """The team's configs: the document's ``notification_configs`` (each naming its servers),
    then a part-two document's configs nested in servers, one config per type and recipient
    with every server that nests it added. Upserted by type and recipient among the team's."""
    stored: dict[Any, list[NotificationConfig]] = {}
    team_configs = NotificationConfig.objects.filter(team=team).prefetch_related("servers")
    for config in sorted(team_configs, key=lambda c: (c.notification_type, c.recipient, c.pk)):  # as exported
        stored.setdefault((config.notification_type, _name(config.recipient)), []).append(config)
    keys = [_config_key(item) for item in items]
    plans: list[_Plan] = []
    by_key: dict[Any, _Plan] = {}
    errors: list[dict[str, Any]] = []
    for index, (item, (instance, reason)) in enumerate(zip(items, _pair(keys, stored, "configs to"), strict=True)):
        if not isinstance(item, dict):
            errors.append(_bad(index, None, {"non_field_errors": ["Expected an object."]}))
            continue
        s = _config_serializer(instance, item, ctx)
        item_errors = {} if s.is_valid() else dict(s.errors)
        if reason:
            item_errors["recipient"] = [reason]
        names = item.get("servers", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            item_errors["servers"] = ["Expected a list of server names."]
            names = []
        names = sorted({n.strip() for n in names})
        missing = [n for n in names if n not in known_names]
        if missing:
            item_errors["servers"] = [f"No server named {', '.join(map(repr, missing))}."]
        if item_errors:
            errors.append(_bad(index, item.get("recipient"), item_errors))
            continue
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        if instance is not None and _names_of(instance.servers.all()) != names:
            changed = True
        plan = _Plan(s, changed=changed, server_names=names)
        plans.append(plan)
        by_key[keys[index]] = plan
    for server_name, item in nested:
        key = _config_key(item)
        plan = by_key.get(key)
        if plan is None:
            have = stored.get(key, [])
            if len(have) > 1:
                reason = f"You have {len(have)} configs to {' '.join(key or ())!r}; list them in notification_configs."
                errors.append(_bad(len(items), item.get("recipient"), {"recipient": [reason]}))
                continue
            instance = have[0] if have else None
            s = _config_serializer(instance, item, ctx)
            s.is_valid(raise_exception=True)  # checked with its server already
            changed = instance is None or not _is_unchanged(instance, s.validated_data)
            plan = by_key[key] = _Plan(s, changed=changed, server_names=[], add_servers=True)
            plans.append(plan)
        if server_name not in (plan.server_names or []):
            plan.server_names = sorted({*(plan.server_names or []), server_name})
            instance = plan.serializer.instance
            if instance is not None and server_name not in _names_of(instance.servers.all()):
                plan.changed = True
    return plans, errors or None


def _config_key(item: Any) -> tuple[str, str] | None:
    """A config item's type and recipient, trimmed; None when either is not a string."""
    if not isinstance(item, dict):
        return None
    kind, recipient = _name(item.get("notification_type")), _name(item.get("recipient"))
    return (kind, recipient) if kind is not None and recipient is not None else None


def import_config(user: Any, doc: Any, dry_run: bool = False, team: Team | None = None) -> dict[str, int]:
    """Validate ``doc`` whole, then write it into ``team`` (default: the user's personal team), or
    for a dry run only count; ConfigError when invalid.

    An import holds every item's serializer until it writes (a million objects for 5,000
    servers): the cycle collector waits meanwhile (``collector_paused``).
    """
    with collector_paused():
        return _import(user, team or default_team(user), doc, dry_run)


def _import(user: Any, team: Team, doc: Any, dry_run: bool) -> dict[str, int]:
    if not isinstance(doc, dict):
        raise ConfigError({"non_field_errors": ["Expected an object with version, servers and status_pages."]})
    errors: dict[str, Any] = {}
    version = doc.get("version")
    if type(version) is not int or version != VERSION:  # not True, 1.0 or "1", which compare equal
        errors["version"] = [f"Expected the whole number {VERSION}."]
    unknown = set(doc) - {"version", "servers", "notification_configs", "maintenance_windows", "status_pages"}
    if unknown:
        errors["non_field_errors"] = [f"Unknown key(s): {', '.join(sorted(map(str, unknown)))}."]
    server_items = _item_list(doc, "servers", errors)
    config_items = _item_list(doc, "notification_configs", errors)
    window_items = _item_list(doc, "maintenance_windows", errors)
    page_items = _item_list(doc, "status_pages", errors)

    ctx = _context(user, team)
    owned: dict[Any, list[Server]] = {}
    for server in Server.objects.filter(team=team).prefetch_related(_LOCATION_ROWS).order_by("name", "id"):
        owned.setdefault(_name(server.name), []).append(server)
    names = [_name(item.get("name")) if isinstance(item, dict) else None for item in server_items]

    server_plans: list[_Plan] = []
    server_errors: list[dict[str, Any]] = []
    nested: list[tuple[str, dict[str, Any]]] = []  # a part-two document's configs, with their server
    # Every name the document gives counts as known, even on an invalid item: that item's own
    # errors say what is wrong, and a window or page naming it needs no second, misleading one.
    known_names = {n for n in names if n} | {n for n in owned if n}
    for index, (item, (instance, reason)) in enumerate(
        zip(server_items, _pair(names, owned, "servers named"), strict=True)
    ):
        if not isinstance(item, dict):
            server_errors.append(_bad(index, None, {"non_field_errors": ["Expected an object."]}))
            continue
        data = {k: v for k, v in item.items() if k not in ("notification_configs", "depends_on")}
        s = _ImportedServerSerializer(instance, data=data, context=ctx)
        item_errors = {} if s.is_valid() else dict(s.errors)
        if reason:
            item_errors["name"] = [reason]
        dependencies, dependency_error = _dependency_names(item.get("depends_on", []), known_names)
        if dependency_error:
            item_errors["depends_on"] = [dependency_error]
        children, child_errors = _validate_nested_configs(item.get("notification_configs", []), ctx)
        if child_errors:
            item_errors["notification_configs"] = child_errors
        if item_errors:
            server_errors.append(_bad(index, item.get("name"), item_errors))
            continue
        nested += [(_name(item.get("name")) or "", child) for child in children]
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        if instance is not None and _names_of(instance.depends_on.all()) != dependencies:
            changed = True
        server_plans.append(_Plan(s, changed=changed, server_names=dependencies))
    if server_errors:
        errors["servers"] = server_errors

    config_plans, config_errors = _plan_configs(team, config_items, nested, known_names, ctx)
    if config_errors:
        errors["notification_configs"] = config_errors
    window_plans, window_errors = _plan_windows(user, team, window_items, known_names)
    if window_errors:
        errors["maintenance_windows"] = window_errors
    page_plans, page_errors = _plan_pages(user, team, page_items, known_names)
    if page_errors:
        errors["status_pages"] = page_errors
    if not errors:
        quota = _over_quota(user, team, server_plans, config_plans)
        if quota:
            errors["non_field_errors"] = quota
    if errors:
        raise ConfigError(errors)
    return _write(user, team, server_plans, config_plans, window_plans, page_plans, dry_run)


def _dependency_names(value: Any, known_names: set[str]) -> tuple[list[str], str | None]:
    """A server's ``depends_on`` as the document gives it (names): the sorted names, or why not."""
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        return [], "Expected a list of server names."
    names = sorted({n.strip() for n in value})
    missing = [n for n in names if n not in known_names]
    if missing:
        return [], f"No server named {', '.join(map(repr, missing))}."
    return names, None


def _set_dependencies(team: Team, server_plans: list[_Plan], saved: list[Server], by_name: dict[Any, set[int]]) -> None:
    """Point each changed server at its dependencies by name, then refuse a cycle (400 naming ``depends_on``)."""
    for index, (plan, server) in enumerate(zip(server_plans, saved, strict=True)):
        if not plan.changed:
            continue
        wanted = [pk for n in plan.server_names or [] for pk in by_name[n]]
        cycle = dependency_cycle(server, team.pk, wanted)
        if cycle:
            raise ConfigError({"servers": [_bad(index, server.name, {"depends_on": [cycle]})]})
        server.depends_on.set(wanted)


def _over_quota(user: Any, team: Team, server_plans: list[_Plan], config_plans: list[_Plan]) -> list[str]:
    """The team quotas (``quotas.over_quota``) for what the document would create."""
    new_servers = sum(plan.serializer.instance is None for plan in server_plans)
    new_configs = sum(plan.serializer.instance is None for plan in config_plans)
    messages = [
        quotas.over_quota(user, Server, new_servers, team_id=team.pk),
        quotas.over_quota(user, NotificationConfig, new_configs, team_id=team.pk),
    ]
    return [message for message in messages if message]


def _plan_pages(user: Any, team: Team, items: list[Any], known_names: set[str]) -> tuple[list[_Plan], list[Any] | None]:
    """Validate each page, upserting by ``slug`` (unique across accounts: another's is refused)."""
    ctx = _context(user, team)
    slugs = [_name(i.get("slug")) for i in items if isinstance(i, dict)]
    pages = {p.slug: p for p in StatusPage.objects.filter(slug__in=[s for s in slugs if s])}
    seen: set[str] = set()
    plans: list[_Plan] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(_bad(index, None, {"non_field_errors": ["Expected an object."]}))
            continue
        slug = _name(item.get("slug"))
        instance = pages.get(slug) if slug else None
        item_errors: dict[str, Any] = {}
        if slug and slug in seen:
            item_errors["slug"] = [f"{slug!r} appears twice in the document."]
        seen.add(slug) if slug else None
        if instance is not None and instance.team_id != team.pk:
            item_errors["slug"] = ["Another team already uses this slug."]
            instance = None
        names = item.get("servers", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            item_errors["servers"] = ["Expected a list of server names."]
            names = []
        names = sorted({n.strip() for n in names})
        missing = [n for n in names if n not in known_names]
        if missing:
            item_errors["servers"] = [f"No server named {', '.join(map(repr, missing))}."]
        data = {k: v for k, v in item.items() if k != "servers"}
        s = _ImportedPageSerializer(instance, data=data, context=ctx)
        s.fields.pop("servers")
        if not s.is_valid() and not item_errors.get("slug"):
            item_errors = {**s.errors, **item_errors}
        if item_errors:
            errors.append(_bad(index, item.get("slug"), item_errors))
            continue
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        if instance is not None and _names_of(instance.servers.all()) != names:
            changed = True
        plans.append(_Plan(s, changed=changed, server_names=names))
    return plans, errors or None


def _plan_windows(
    user: Any, team: Team, items: list[Any], known_names: set[str]
) -> tuple[list[_Plan], list[Any] | None]:
    """Validate each window, upserting by ``name`` among the account's windows."""
    ctx = {**_context(user, team), "known_names": known_names}
    owned: dict[Any, list[MaintenanceWindow]] = {}
    for window in MaintenanceWindow.objects.filter(team=team).prefetch_related("servers").order_by("name", "id"):
        owned.setdefault(_name(window.name), []).append(window)
    names = [_name(item.get("name")) if isinstance(item, dict) else None for item in items]
    plans: list[_Plan] = []
    errors: list[dict[str, Any]] = []
    for index, (item, (instance, reason)) in enumerate(zip(items, _pair(names, owned, "windows named"), strict=True)):
        if not isinstance(item, dict):
            errors.append(_bad(index, None, {"non_field_errors": ["Expected an object."]}))
            continue
        # Servers left out means none, as for a page (not "keep the current ones").
        s = _ImportedWindowSerializer(instance, data={**item, "servers": item.get("servers", [])}, context=ctx)
        item_errors = {} if s.is_valid() else dict(s.errors)
        if reason:
            item_errors["name"] = [reason]
        if item_errors:
            errors.append(_bad(index, item.get("name"), item_errors))
            continue
        server_names = s.validated_data.pop("servers", [])
        changed = instance is None or not _is_unchanged(instance, s.validated_data)
        if instance is not None and _names_of(instance.servers.all()) != server_names:
            changed = True
        plans.append(_Plan(s, changed=changed, server_names=server_names))
    return plans, errors or None


def _names_of(servers: Any) -> list[str]:
    """A page's or window's servers as the document names them: trimmed, sorted, each once."""
    return sorted({_name(server.name) or "" for server in servers})


def _count(counts: Counts, plan: _Plan) -> None:
    if plan.serializer.instance is None:
        counts.created += 1
    elif plan.changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def _write(
    user: Any,
    team: Team,
    server_plans: list[_Plan],
    config_plans: list[_Plan],
    window_plans: list[_Plan],
    page_plans: list[_Plan],
    dry_run: bool,
) -> dict[str, int]:
    counts = Counts()
    user = user if getattr(user, "pk", None) else None  # a team API key owns nothing (it is no user)
    with transaction.atomic():
        # A name stands for every server of that name (twins, which the API allows, go together).
        by_name: dict[str | None, set[int]] = {}
        for name, pk in Server.objects.filter(team=team).values_list("name", "pk"):
            by_name.setdefault(_name(name), set()).add(pk)
        saved: list[Server] = []
        for plan in server_plans:
            _count(counts, plan)
            server = plan.serializer.instance
            if plan.changed:
                server = plan.serializer.save(owner=user, team=team) if server is None else plan.serializer.save()
            saved.append(server)
            by_name.setdefault(_name(server.name), set()).add(server.pk)
        _set_dependencies(team, server_plans, saved, by_name)
        for plan in config_plans:
            _count(counts, plan)
            if plan.changed:
                config = plan.serializer.save()
                ids = [pk for n in plan.server_names or [] for pk in by_name[n]]
                if plan.add_servers:
                    config.servers.add(*ids)
                else:
                    config.servers.set(ids)
        for plan in window_plans:
            _count(counts, plan)
            if plan.changed:
                window = plan.serializer.save(
                    **({"owner": user, "team": team} if plan.serializer.instance is None else {})
                )
                window.servers.set([pk for n in plan.server_names or [] for pk in by_name[n]])
        for plan in page_plans:
            _count(counts, plan)
            if plan.changed:
                page = (
                    plan.serializer.save(owner=user, team=team)
                    if plan.serializer.instance is None
                    else plan.serializer.save()
                )
                page.servers.set([pk for n in plan.server_names or [] for pk in by_name[n]])
        if dry_run:
            transaction.set_rollback(True)
    return counts.as_dict()
