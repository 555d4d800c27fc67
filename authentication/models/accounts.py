"""Two-factor sign-in (TOTP, RFC 6238) and OpenID Connect identities (SPEC §17)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TwoFactor(models.Model):
    """A user's TOTP secret; sign-in needs a code once ``confirmed_at`` is set."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    #: The last 30-second step whose code was accepted: each code is accepted once.
    last_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"two-factor of {self.user_id}"


class RecoveryCode(models.Model):
    """One of ten single-use recovery codes, stored as SHA-256."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class OidcIdentity(models.Model):
    """The OpenID Connect (issuer, sub) a user signs in as."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    sub = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "sub"], name="oidc_identity_unique")]

    def __str__(self) -> str:
        return f"{self.issuer} {self.sub}"
