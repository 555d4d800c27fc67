"""Hooks of what a status page tells the world (SPEC §21), for whatever reaches its subscribers.

``post_published(post, update)`` runs after the commit of every new incident post (with its
first update) and of every update added to one (``services.statuspage_posts`` registers it
with ``transaction.on_commit``), so a rolled-back post is never announced. It does nothing yet:
subscriber delivery (e-mail and webhooks, SPEC §21 "Subscribers") fills it in. It must not
raise into the caller's request: the post is already saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.models import IncidentPost, PostUpdate


def post_published(post: IncidentPost, update: PostUpdate) -> None:
    """A post was published (``update`` is its first) or ``update`` was added to it; committed."""
    return None
