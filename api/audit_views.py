"""``GET /api/audit-log/`` (SPEC §17): the audit rows of the teams the caller admins or owns."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins, viewsets

from api.filtersets import AuditEntryFilterSet
from api.serializers.audit import AuditEntrySerializer
from authentication.models import AuditEntry


class AuditEntryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A list, newest first (no detail route: a row says all it has in the list). Staff read every
    row; a caller who admins no team (a key, a member) reads none."""

    queryset = AuditEntry.objects.select_related("team")
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilterSet
    ordering_fields = ["time", "id"]

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.for_admin(self.request.user)  # type: ignore[attr-defined]
