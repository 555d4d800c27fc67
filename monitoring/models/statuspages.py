"""Public status pages (SPEC §15): a chosen set of one owner's servers, shown without a login."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from monitoring.models.base import OwnedQuerySet
from monitoring.models.servers import Server, ServerQuerySet
from monitoring.validators import validate_tags

SLUG_RULE = RegexValidator(r"^[a-z0-9-]{1,60}$", "Use 1–60 lower-case letters, digits and hyphens.")


def summary_cache_key(slug: str) -> str:
    """The Django cache key of a page's public summary (services.statuspages reads and fills it)."""
    return f"statuspage:summary:{slug}"


def servers_matching(owner_id: int, server_ids: list[int], tags: list[str]) -> ServerQuerySet:
    """``owner_id``'s servers that are in ``server_ids`` or carry any of ``tags`` (status pages, windows)."""
    match = Q(pk__in=server_ids)
    for tag in tags:
        if connection.vendor == "postgresql":
            match |= Q(tags__contains=[tag])
        else:  # SQLite has no JSON containment; tags are plain tokens, so a quoted match is exact.
            match |= Q(tags_text__contains=json.dumps(tag))
    servers = Server.objects.filter(owner_id=owner_id)
    if tags and connection.vendor != "postgresql":
        servers = servers.annotate(tags_text=Cast("tags", TextField()))
    return servers.filter(match)


class StatusPage(models.Model):
    """A page at ``/status/<slug>/`` listing servers picked by id and/or tag, public when ``is_public``."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="status_pages")
    slug = models.CharField(max_length=60, unique=True, validators=[SLUG_RULE])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    servers = models.ManyToManyField(Server, blank=True, related_name="status_pages")
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    is_public = models.BooleanField(default=False)
    show_response_times = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk:
            old = StatusPage.objects.filter(pk=self.pk).values_list("slug", flat=True).first()
            if old:
                cache.delete(summary_cache_key(old))
        super().save(*args, **kwargs)
        cache.delete(summary_cache_key(self.slug))

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        cache.delete(summary_cache_key(self.slug))
        return super().delete(*args, **kwargs)

    def shown_servers(self) -> ServerQuerySet:
        """The servers this page shows: those picked by id, and the owner's with any of its tags."""
        ids = list(self.servers.values_list("pk", flat=True))
        return servers_matching(self.owner_id, ids, self.tags).order_by("name", "id")
