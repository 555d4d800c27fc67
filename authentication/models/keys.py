"""Team API keys (SPEC §17): ``pgk_…``, shown once, stored as a keyed SHA-256."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"

    team = models.ForeignKey("authentication.Team", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    #: The first characters of the key (``pgk_`` and 8 more), to recognise it in lists and logs.
    prefix = models.CharField(max_length=12, db_index=True)
    #: HMAC-SHA-256 of the whole key under SECRET_KEY (32 random bytes need no slow hash).
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
