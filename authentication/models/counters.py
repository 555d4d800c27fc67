"""Rate counters: the login and push throttles' counts, kept in the database.

Not in Django's cache: a cache culls entries when it is full, and anonymous requests that
write to it (status pages, made-up push tokens) could push a login counter out and so hand an
attacker fresh guesses. A row here is only ever reset by its own window ending.
"""

from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """Hits on one key (e.g. ``auth:198.51.100.7``) in the window that ends at ``resets_at``.

    Written only by ``authentication.throttle.hit()``, in one atomic upsert, so concurrent
    attempts are each counted once.
    """

    key = models.CharField(max_length=255, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    resets_at = models.FloatField(help_text="Epoch seconds when the window ends and the count starts again.")

    class Meta:
        ordering = ["key"]
        indexes = [
            # throttle.prune(): delete the windows that ended.
            models.Index(fields=["resets_at"], name="ratecounter_resets_at"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
