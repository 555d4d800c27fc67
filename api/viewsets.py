"""The one ownership policy for every resource viewset."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.reverse import reverse

from api import quotas


class OwnedViewSetMixin:
    """Scope every query to what the user may see (``for_user``), so others' ids answer 404.

    Resource viewsets declare ``queryset`` (whose manager has ``for_user``); the owner of a
    new object is the requesting user where the model has an ``owner`` field, and a create past
    the account's quota (``api.quotas``) answers 403.
    """

    queryset: QuerySet[Any]
    request: Any

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.for_user(self.request.user)  # type: ignore[attr-defined]

    def perform_create(self, serializer: Any) -> None:
        model = serializer.Meta.model
        refusal = quotas.over_quota(self.request.user, model)
        if refusal:
            raise PermissionDenied(refusal)
        if any(f.name == "owner" for f in model._meta.fields):
            serializer.save(owner=self.request.user)
        else:
            serializer.save()

    def get_success_headers(self, data: Any) -> dict[str, str]:
        """``Location`` of the created API object (DRF's default reads ``url``, a server's target)."""
        pk = data.get("id") if isinstance(data, dict) else None
        if pk is None:
            return {}
        name = f"{self.basename}-detail"  # type: ignore[attr-defined]
        return {"Location": reverse(name, kwargs={"pk": pk}, request=self.request)}


class OwnedModelViewSet(OwnedViewSetMixin, viewsets.ModelViewSet):
    pass


class OwnedReadOnlyViewSet(OwnedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
