"""The admin's user pages: deleting an account goes the way ``DELETE /api/auth/me/`` goes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from authentication import web_login
from authentication.audit_admin import AuditedAdminMixin, AuditEntryAdmin
from authentication.models import AuditEntry, Membership, Team, TwoFactor
from monitoring.models import Server
from monitoring.services.engine import checks

User = get_user_model()


class AccountAdmin(UserAdmin):
    """Django's user admin, but the servers of an account's personal team go first, locked as a
    running check's record locks them (``checks.delete_servers``): deleting an account whose
    checks run answers, instead of failing on a result written meanwhile (SPEC §23)."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            checks.delete_servers(Server.objects.filter(team__personal_for=obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            checks.delete_servers(Server.objects.filter(team__personal_for__in=queryset))
            super().delete_queryset(request, queryset)


admin.site.unregister(User)
admin.site.register(User, AccountAdmin)
admin.site.register(AuditEntry, AuditEntryAdmin)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "joined_at", "from_claim"]
    readonly_fields = ["joined_at", "from_claim"]


@admin.register(Team)
class TeamAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["slug", "name", "personal_for", "require_two_factor", "created_at"]
    list_filter = ["require_two_factor"]
    search_fields = ["slug", "name"]
    list_select_related = ["personal_for"]
    readonly_fields = ["personal_for", "created_at"]
    inlines = [MembershipInline]


@admin.register(TwoFactor)
class TwoFactorAdmin(admin.ModelAdmin):
    """Who has two-factor sign-in. Deleting a row switches it off for a user who lost the phone
    and the recovery codes (they enrol again from the account page); the secret is never shown."""

    list_display = ["user", "confirmed_at"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    fields = ["user", "confirmed_at"]
    readonly_fields = ["user", "confirmed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enrolment needs the user's phone: the account page


# The admin's own login would sign in with the password alone: every way into it goes through
# the project's login, and so through two-factor sign-in (authentication.web_login).
admin.site.login = web_login.admin_login  # type: ignore[method-assign]
