"""Counters shared by every process, for Prometheus (SPEC §14)."""

from __future__ import annotations

from django.db import models


class MetricCounter(models.Model):
    """One shard of one counter: checks by outcome, lateness histogram buckets, lateness sum.

    Every scheduler process adds to these in its recording transaction
    (``services.history.metrics.count_checks``), so ``/metrics`` on any web process counts every
    check. A counter is split over a few shards (rows), each increment picking one at
    random, so concurrent recorders rarely wait on the same row lock; a scrape sums them.
    """

    key = models.CharField(max_length=60)
    shard = models.PositiveSmallIntegerField(default=0)
    value = models.FloatField(default=0)

    class Meta:
        ordering = ["key", "shard"]
        constraints = [
            # count_checks()'s UPDATE … WHERE shard = s AND key IN (…) and its create-if-missing.
            models.UniqueConstraint(fields=["key", "shard"], name="metriccounter_key_shard"),
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.shard}] = {self.value:g}"
