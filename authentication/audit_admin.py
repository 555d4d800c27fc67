"""The audit log in the admin (SPEC §17): the rows, read only, and the mixin that writes a row
for every create, change and delete made through a ModelAdmin, with the admin user as actor."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from authentication import audit
from authentication.models import AuditEntry, Membership, Team
from authentication.teams import team_id_of

# A membership's rows name the member (SPEC §17's member_add, member_role, member_remove).
MEMBER_ACTIONS = {"create": "member_add", "update": "member_role", "delete": "member_remove"}


def _team(obj: Model) -> int | None:
    """The team a row about ``obj`` belongs to: a team's own, or its object's team."""
    return obj.pk if isinstance(obj, Team) else team_id_of(obj)


def _object(obj: Model) -> dict[str, Any]:
    if isinstance(obj, Membership):
        # As the team API writes them (``authentication.memberships``): the membership, named by its user.
        return {"object_type": "membership", "object_id": obj.pk, "object_name": obj.user.get_username()}
    return {"object_type": obj._meta.model_name or "", "object_id": obj.pk, "object_name": str(obj)}


def _record(request: HttpRequest, action: str, obj: Model, changes: dict[str, list[Any]], **where: Any) -> None:
    if isinstance(obj, Membership):
        action = MEMBER_ACTIONS[action]
        changes = {k: v for k, v in changes.items() if k == "role"}
        if not changes:
            return  # an unchanged role: nothing a member row would say
    audit.record(request, action, **{"team_id": _team(obj), **_object(obj), **where}, changes=changes)


class AuditedAdminMixin:
    """Rows for the admin's own changes, hooked where the admin writes its LogEntry.

    ``save_form`` runs before anything is saved: the object's stored values are read then (the
    form has already copied its data onto the instance). ``log_addition`` and ``log_change``
    run after the object and its many-to-many fields are saved; ``log_deletions`` before the
    delete. Inline rows (a server's notification configs) are recorded in ``save_formset``.
    The admin's change and delete views run in one transaction with these.
    """

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> Any:
        if change and form.instance.pk is not None:
            stored = type(form.instance)._default_manager.filter(pk=form.instance.pk).first()
            form.instance._audit_before = audit.snapshot(stored) if stored is not None else {}
        return super().save_form(request, form, change)  # type: ignore[misc]

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        _record(request, "create", obj, audit.created(obj))
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        before = getattr(obj, "_audit_before", None)
        if before is not None:
            changes = audit.diff(before, audit.snapshot(obj))
            if changes:
                _record(request, "update", obj, changes)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            # A team's rows go with it (AuditEntry.team cascades): its own delete belongs to no team.
            _record(request, "delete", obj, {}, **({"team_id": None} if isinstance(obj, Team) else {}))
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        model = formset.model
        if model._meta.auto_created:  # a many-to-many's links (a server's notification configs)
            self._save_links(request, form, formset, change)
            return
        changed = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None and f.has_changed()]
        before = {o.pk: audit.snapshot(o) for o in model._default_manager.filter(pk__in=changed)}
        # What a deleted row was is read before it goes (a deleted instance loses its pk).
        doomed = [(f.instance, _object(f.instance), audit.snapshot(f.instance)) for f in formset.deleted_forms]
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for obj in formset.new_objects:
            _record(request, "create", obj, audit.created(obj))
        for obj, _fields in formset.changed_objects:
            changes = audit.diff(before.get(obj.pk, {}), audit.snapshot(obj))
            if changes:
                _record(request, "update", obj, changes)
        for obj, what, values in doomed:
            if what["object_id"] is not None:
                gone = audit.diff(values, {k: None for k in values}) if isinstance(obj, Membership) else {}
                _record(request, "delete", obj, gone, **what)

    def _save_links(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """Links added or removed inline are updates of the objects at their other end (a config's
        ``servers``), as the same change through the API is."""
        other = next(
            f for f in formset.model._meta.fields if f.is_relation and f.related_model is not type(form.instance)
        )
        touched = {
            getattr(f.cleaned_data.get(other.name), "pk", None)
            for f in formset.forms
            if f.has_changed() or f in formset.deleted_forms
        } | {getattr(f.instance, other.attname, None) for f in formset.deleted_forms}
        touched.discard(None)
        objects = other.related_model._default_manager.filter(pk__in=touched)
        before = {o.pk: audit.snapshot(o) for o in objects}
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for obj in other.related_model._default_manager.filter(pk__in=touched):
            changes = audit.diff(before.get(obj.pk, {}), audit.snapshot(obj))
            if changes:
                _record(request, "update", obj, changes)

    def audit_each(self, request: HttpRequest, action: str, objects: Any) -> None:
        """A row per object for an admin action (pause, resume, check now)."""
        audit.record_many(request, action, [(_team(obj), obj) for obj in objects])


class AuditEntryAdmin(admin.ModelAdmin):
    """The rows as written: nobody adds, changes or deletes one here (retention prunes them)."""

    list_display = ["time", "actor_name", "actor_type", "team", "action", "object_type", "object_name", "ip"]
    list_filter = ["action", "actor_type", "object_type", "team", "time"]
    search_fields = ["actor_name", "actor_ref", "object_name", "object_id", "team__slug", "ip"]
    list_select_related = ["team"]
    date_hierarchy = "time"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
