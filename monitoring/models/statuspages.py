"""Public status pages (SPEC §15): a chosen set of one team's servers, shown without a login.

What a public page or badge shows is cached (``services.statuspages``) in the shared cache
(``default``: the database or Redis), tagged with its team's *version*. Whatever can change
what a team's pages or badges show calls ``public_pages_changed(team_id)``: the receivers
at the end of this module, and ``services.engine.recording`` after committing status changes (which
are UPDATEs, no signal). The team gets a new version, and every web process rebuilds those
entries at their next read (SPEC §23: within 2 s, not after the cache's timeout).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from monitoring.models.base import OwnedQuerySet, TeamOwned
from monitoring.models.maintenance import MaintenanceWindow
from monitoring.models.servers import Server, ServerQuerySet, picks
from monitoring.validators import validate_tags

SLUG_RULE = RegexValidator(r"^[a-z0-9-]{1,60}$", "Use 1–60 lower-case letters, digits and hyphens.")


def summary_cache_key(slug: str) -> str:
    """The Django cache key of a page's public summary (services.statuspages reads and fills it)."""
    return f"statuspage:summary:{slug}"


# The team of what names nothing: slugs and badge keys cached as unknown (so that guessing them
# reaches the database once each) are renewed when a page is created, renamed or deleted.
NOBODY = 0


def version_cache_key(team_id: int) -> str:
    return f"statuspage:version:{team_id}"


def team_version(team_id: int) -> str:
    """The team's current version; a first one when there is none (never set, or evicted)."""
    key = version_cache_key(team_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, secrets.token_hex(8), timeout=None)
        version = cache.get(key)
    return version


_local = threading.local()


def _renewed() -> set[int]:
    """Owners this thread renewed in its transaction and built no entry for since."""
    owners = getattr(_local, "renewed", None)
    if owners is None:
        owners = _local.renewed = set()
    return owners


def public_pages_changed(*team_ids: int) -> None:
    """What these teams' public pages and badges show has changed: renew their versions.

    1. Now: this transaction's own readers see the change (and the database cache, which writes
       on the same connection, commits the new version with the change itself). Once per
       team until this thread builds an entry of theirs again: deleting an account deletes
       thousands of servers, and one renewal covers them all.
    2. Again after commit: a process that rebuilt an entry from the old rows under the version
       of step 1 (Redis is not transactional) sees it stale.
    A version is a random token, not a counter, so two processes renewing at once still change it.
    """
    if not transaction.get_connection().in_atomic_block:  # autocommit: the change is committed
        _renew(set(team_ids))
        return
    renewed = _renewed()
    fresh = set(team_ids) - renewed
    if fresh:
        _renew(fresh)
        renewed |= fresh
    transaction.on_commit(_renew_after_commit)


def entry_built(team_id: int) -> None:
    """An entry of ``team_id`` was built in this thread: its next change renews the version again."""
    _renewed().discard(team_id)


def _renew_after_commit() -> None:
    renewed = _renewed()
    if renewed:  # the first of this transaction's callbacks renews, the rest find nothing
        _renew(renewed)
        renewed.clear()


def _renew(team_ids: set[int]) -> None:
    # In team order: the database cache locks each row it writes until commit, so two
    # transactions renewing the same teams take those locks in one order and cannot deadlock.
    versions = {version_cache_key(team): secrets.token_hex(8) for team in sorted(team_ids)}
    cache.set_many(versions, timeout=None)


class StatusPageQuerySet(OwnedQuerySet):
    def public(self) -> StatusPageQuerySet:
        return self.filter(is_public=True)

    def shows(self, server: Server) -> bool:
        """Whether one of these pages of ``server``'s team shows it (by id or by one of its tags)."""
        for page in self.filter(team_id=server.team_id).prefetch_related("servers"):
            if picks(server.pk, server.tags, (s.pk for s in page.servers.all()), page.tags):
                return True
        return False


class StatusPage(TeamOwned):
    """A page at ``/status/<slug>/`` listing servers picked by id and/or tag, public when ``is_public``."""

    #: Who created it (kept when they leave the team; null once their account is deleted).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="status_pages"
    )
    slug = models.CharField(max_length=60, unique=True, validators=[SLUG_RULE])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    servers = models.ManyToManyField(Server, blank=True, related_name="status_pages")
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    is_public = models.BooleanField(default=False)
    show_response_times = models.BooleanField(default=False)
    #: Automatic incidents (a server DOWN and back) in the page's feeds (SPEC §21).
    publish_outages = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StatusPageQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def shown_servers(self) -> ServerQuerySet:
        """The servers this page shows: those picked by id, and the team's with any of its tags."""
        ids = list(self.servers.values_list("pk", flat=True))
        return Server.objects.filter(team_id=self.team_id).picked(ids, self.tags).order_by("name", "id")


# Every save, delete and change of servers of the models a page or badge shows, from any path
# (API, web, admin, import): all belong to a team, which names what changed.
@receiver(post_save, sender=StatusPage)
@receiver(post_delete, sender=StatusPage)
def _page_changed(sender: type[models.Model], instance: StatusPage, **kwargs: Any) -> None:
    public_pages_changed(instance.team_id, NOBODY)  # its slug may have been cached as unknown


@receiver(post_save, sender=MaintenanceWindow)
@receiver(post_delete, sender=MaintenanceWindow)
@receiver(post_save, sender=Server)
@receiver(post_delete, sender=Server)
def _owned_row_changed(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    public_pages_changed(instance.team_id)


@receiver(m2m_changed, sender=StatusPage.servers.through)
@receiver(m2m_changed, sender=MaintenanceWindow.servers.through)
def _servers_changed(sender: type[models.Model], instance: Any, action: str, **kwargs: Any) -> None:
    if action.startswith("post_"):  # either side: a page or window, or a server; both are owned
        public_pages_changed(instance.team_id)
