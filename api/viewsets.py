"""The one ownership policy for every resource viewset."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets


class OwnedViewSetMixin:
    """Scope every query to what the user may see (``for_user``), so others' ids answer 404.

    Resource viewsets declare ``queryset`` (whose manager has ``for_user``); the owner of a
    new object is the requesting user where the model has an ``owner`` field.
    """

    queryset: QuerySet[Any]
    request: Any

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.for_user(self.request.user)  # type: ignore[attr-defined]

    def perform_create(self, serializer: Any) -> None:
        model = serializer.Meta.model
        if any(f.name == "owner" for f in model._meta.fields):
            serializer.save(owner=self.request.user)
        else:
            serializer.save()


class OwnedModelViewSet(OwnedViewSetMixin, viewsets.ModelViewSet):
    pass


class OwnedReadOnlyViewSet(OwnedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
