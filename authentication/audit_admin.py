"""The audit log in the admin (SPEC §17): the rows, read only, and the mixin that writes a row
for every create, change and delete made through a ModelAdmin, with the admin user as actor."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from authentication import audit
from authentication.models import AuditEntry
from authentication.teams import team_id_of


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
        audit.record(request, "create", team_id=team_id_of(obj), obj=obj, changes=audit.created(obj))
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        before = getattr(obj, "_audit_before", None)
        if before is not None:
            changes = audit.diff(before, audit.snapshot(obj))
            if changes:
                audit.record(request, "update", team_id=team_id_of(obj), obj=obj, changes=changes)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            audit.record(request, "delete", team_id=team_id_of(obj), obj=obj)
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        model = formset.model
        changed = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None and f.has_changed()]
        before = {o.pk: audit.snapshot(o) for o in model._default_manager.filter(pk__in=changed)}
        doomed = [(team_id_of(f.instance), f.instance.pk, str(f.instance), f.instance) for f in formset.deleted_forms]
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for obj in formset.new_objects:
            audit.record(request, "create", team_id=team_id_of(obj), obj=obj, changes=audit.created(obj))
        for obj, _fields in formset.changed_objects:
            changes = audit.diff(before.get(obj.pk, {}), audit.snapshot(obj))
            if changes:
                audit.record(request, "update", team_id=team_id_of(obj), obj=obj, changes=changes)
        for team_id, pk, name, obj in doomed:
            if pk is not None:
                object_type = obj._meta.model_name or ""
                audit.record(
                    request, "delete", team_id=team_id, object_type=object_type, object_id=pk, object_name=name
                )

    def audit_each(self, request: HttpRequest, action: str, objects: Any) -> None:
        """A row per object for an admin action (pause, resume, check now)."""
        audit.record_many(request, action, [(team_id_of(obj), obj) for obj in objects])


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
