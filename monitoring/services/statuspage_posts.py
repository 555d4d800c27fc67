"""Writing incident posts (SPEC §21): a post is made with its first update, and every update
moves the post's ``status`` and ``resolved_at`` with it, in one transaction.

The API and the operator's web page (through the API) write here, so every new post and
update is queued for the page's subscribers (``subscribers.events.post_published``) in the same
transaction: a rolled-back post is never announced, a committed one always is.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from monitoring.choices import Impact, PostStatus
from monitoring.models import IncidentPost, PostUpdate, Server, StatusPage
from monitoring.services.subscribers.events import post_published


def create_post(
    page: StatusPage,
    *,
    title: str,
    status: str,
    message: str,
    impact: str = Impact.MINOR,
    servers: Iterable[Server] = (),
) -> IncidentPost:
    """A new post on ``page`` with its first update."""
    with transaction.atomic():
        post = IncidentPost.objects.create(page=page, title=title, impact=impact)
        post.servers.set(list(servers))
        add_update(post, status=status, message=message)
    return post


def add_update(post: IncidentPost, *, status: str, message: str) -> PostUpdate:
    """Add an update; the post takes its status, and is resolved when the update is ``resolved``
    (reopened when a later update is not)."""
    with transaction.atomic():
        update = PostUpdate.objects.create(post=post, status=status, message=message)
        post.status = status
        post.resolved_at = update.created_at if status == PostStatus.RESOLVED else None
        post.save(update_fields=["status", "resolved_at", "updated_at"])
        post_published(post, update, first=not post.updates.exclude(pk=update.pk).exists())
    return update
