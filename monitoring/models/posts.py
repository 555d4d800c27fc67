"""What a status page says in words (SPEC §21): incident posts with their updates, and announcements.

They hang off a page (``StatusPage``) and belong to its team through it. Every save and delete
renews the team's public-page version (``public_pages_changed``), the one invalidation the
cached summaries, feeds and live refresh of the page already follow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from monitoring.choices import Impact, PostStatus
from monitoring.models.base import OwnedQuerySet
from monitoring.models.servers import Server
from monitoring.models.statuspages import StatusPage, public_pages_changed

MAX_MESSAGE = 10_000


class IncidentPostQuerySet(OwnedQuerySet):
    team_lookup = "page__team"

    def open(self) -> IncidentPostQuerySet:
        return self.filter(resolved_at__isnull=True)

    def resolved(self) -> IncidentPostQuerySet:
        return self.filter(resolved_at__isnull=False)


class IncidentPost(models.Model):
    """An incident written by a person for a page's visitors: a title, an impact, the servers it
    touches and its updates. ``status`` and ``resolved_at`` mirror its latest update (kept by
    ``services.statuspage_posts``), so the page reads open and resolved posts without a join."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="posts")
    title = models.CharField(max_length=200)
    impact = models.CharField(max_length=8, choices=Impact.choices, default=Impact.MINOR)
    servers = models.ManyToManyField(Server, blank=True, related_name="incident_posts")
    status = models.CharField(
        max_length=13, choices=PostStatus.choices, default=PostStatus.INVESTIGATING, editable=False
    )
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentPostQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The public page's open posts and the history page's resolved ones, newest first.
            models.Index(fields=["page", "resolved_at", "-created_at"], name="post_page_resolved_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def team_id(self) -> int:
        """The page's team (``authentication.teams.team_id_of`` and the audit log read it)."""
        return self.page.team_id


class PostUpdate(models.Model):
    """One step of a post: its status from then on and a message (the Markdown subset)."""

    post = models.ForeignKey(IncidentPost, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=13, choices=PostStatus.choices)
    message = models.TextField(max_length=MAX_MESSAGE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.post.title}: {self.status}"


class AnnouncementQuerySet(OwnedQuerySet):
    team_lookup = "page__team"

    def shown_at(self, when: datetime) -> AnnouncementQuerySet:
        """Those a page shows at ``when``: started (or with no start) and not yet ended."""
        return self.filter(Q(starts_at__isnull=True) | Q(starts_at__lte=when)).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=when)
        )


class Announcement(models.Model):
    """A notice shown as a banner on a page from ``starts_at`` (or now) until ``ends_at`` (or ever)."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="announcements")
    notice = models.TextField(max_length=2000)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AnnouncementQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="announcement_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.notice[:60]

    @property
    def team_id(self) -> int:
        return self.page.team_id


@receiver(post_save, sender=IncidentPost)
@receiver(post_delete, sender=IncidentPost)
@receiver(post_save, sender=Announcement)
@receiver(post_delete, sender=Announcement)
def _page_text_changed(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    team_id = StatusPage.objects.filter(pk=instance.page_id).values_list("team_id", flat=True).first()
    if team_id is not None:  # None: the page itself is being deleted, which renewed already
        public_pages_changed(team_id)


@receiver(post_save, sender=PostUpdate)
@receiver(post_delete, sender=PostUpdate)
def _update_changed(sender: type[models.Model], instance: PostUpdate, **kwargs: Any) -> None:
    team_id = IncidentPost.objects.filter(pk=instance.post_id).values_list("page__team_id", flat=True).first()
    if team_id is not None:
        public_pages_changed(team_id)


@receiver(m2m_changed, sender=IncidentPost.servers.through)
def _post_servers_changed(sender: type[models.Model], instance: Any, action: str, **kwargs: Any) -> None:
    if action.startswith("post_"):  # either side: a post (its page's team) or a server
        public_pages_changed(instance.team_id)
