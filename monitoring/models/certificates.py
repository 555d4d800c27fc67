"""TLS certificate checks of https servers (SPEC §6): validity, expiry and renewal."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from monitoring.choices import Protocol
from monitoring.models.base import OwnedQuerySet
from monitoring.models.servers import Server, ServerQuerySet


class CertificateCheckQuerySet(OwnedQuerySet):
    team_lookup = "server__team"

    def completed(self) -> CertificateCheckQuerySet:
        """Checks that have a result (not a scheduler's claim still probing)."""
        return self.filter(in_progress=False)

    def latest_per_server(self) -> CertificateCheckQuerySet:
        """Each server's newest completed check (one correlated lookup per server on
        certcheck_server_newest_idx)."""
        newest = (
            CertificateCheck.objects.completed()
            .filter(server=OuterRef("server"))
            .order_by("-checked_at", "-id")
            .values("pk")[:1]
        )
        return self.completed().filter(pk=Subquery(newest))

    def latest_for(self, server: Server) -> CertificateCheck | None:
        """The server's newest completed check, or None before its first."""
        return self.completed().filter(server=server).order_by("-checked_at", "-id").first()


#: The servers that speak TLS and so have a certificate to check (SPEC §13, §19): https, and smtp
#: on port 465 (TLS from the start) or with STARTTLS (``Server.smtp_uses_starttls``, by port when unset).
SPEAKS_TLS = Q(protocol=Protocol.HTTPS) | (
    Q(protocol=Protocol.SMTP)
    & (
        Q(port=465)
        | Q(smtp_starttls=True)
        | (Q(smtp_starttls__isnull=True) & (Q(port__in=[25, 587]) | Q(port__isnull=True)))
    )
)


def certificate_check_due(now: datetime) -> ServerQuerySet:
    """Active servers that speak TLS (``SPEAKS_TLS``) with no certificate check (or claim) in the
    last CERT_CHECK_INTERVAL_HOURS.

    An in-progress claim counts as a check, so a server being checked is not due for
    anyone else; a claim left behind by a crashed process delays the next check by at most
    one interval.
    """
    cutoff = now - timedelta(hours=settings.CERT_CHECK_INTERVAL_HOURS)
    recent = CertificateCheck.objects.filter(server=OuterRef("pk"), checked_at__gt=cutoff)
    return Server.objects.active().filter(SPEAKS_TLS).filter(~Exists(recent))


class CertificateCheck(models.Model):
    """One look at the TLS certificate a server presents: does it verify, when does it expire,
    who issued it, and is it time to renew.

    The scheduler inserts the row as a claim (``in_progress``) before probing and fills it in
    after; checks run on demand are written once, complete.
    """

    server = models.ForeignKey("monitoring.Server", on_delete=models.CASCADE, related_name="certificate_checks")
    checked_at = models.DateTimeField(default=timezone.now)
    valid = models.BooleanField(default=False, help_text="The chain and the hostname verified.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="The certificate's not-after time.")
    # Negative once expired; null when no certificate could be read.
    days_remaining = models.IntegerField(null=True, blank=True)
    issuer = models.CharField(max_length=500, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    needs_renewal = models.BooleanField(default=False, help_text="Expires within CERT_RENEWAL_DAYS days.")
    error = models.TextField(blank=True, help_text="Why the handshake failed or the certificate did not verify.")
    # Which certificate this was (hex SHA-256 of its DER form): certificate alerts go once per
    # certificate and threshold, and a renewed certificate starts afresh (services.alerts.certificates).
    fingerprint_sha256 = models.CharField(max_length=64, blank=True)
    # A scheduler's claim whose probe has not finished; every read for users skips these.
    in_progress = models.BooleanField(default=False, editable=False)

    objects = CertificateCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            # A server's latest check: GET /api/servers/{id}/certificate/, the admin's server page,
            # the `latest` filter and certificate_check_due()'s "anything since the cutoff?".
            # With the id, the tie-break of "newest" (-checked_at, -id) is read from the index too:
            # /metrics looks up 10,000 servers' newest check per scrape, and without it SQLite sorted
            # each server's checks in a temporary B-tree (about 20 ms of a 10,000-server scrape).
            models.Index(fields=["server", "-checked_at", "-id"], name="certcheck_server_newest_idx"),
        ]

    def __str__(self) -> str:
        verdict = "valid" if self.valid else "invalid"
        return f"{self.server_id} {verdict} @ {self.checked_at:%Y-%m-%d %H:%M:%S}"
