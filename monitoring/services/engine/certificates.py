"""TLS certificate checks: the renewal rule, reading a certificate, ``probe_certificate()`` and
``store_certificate()``, which the check engine runs for ``check_certificates`` and the scheduler
(``tasks.engine.run_certificate_checks``), and ``check_certificate()``, both at once, for the
API's and the admin's check of one certificate now."""

from __future__ import annotations

import hashlib
import logging
import math
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.choices import Protocol
from monitoring.models import CertificateCheck, Server
from monitoring.services import net
from monitoring.services.alerts import certificates as certificate_alerts

log = logging.getLogger(__name__)

# The parts of a distinguished name an operator recognises ("CN=R11, O=Let's Encrypt").
READABLE_NAME_PARTS = ((NameOID.COMMON_NAME, "CN"), (NameOID.ORGANIZATION_NAME, "O"))


NOT_HTTPS = "Certificate checks are for https servers, and smtp servers with TLS."


def checks_certificate(server: Server) -> bool:
    """Whether a server has a certificate to check: https, and smtp on port 465 or with STARTTLS
    (SPEC §19; ``models.certificates.SPEAKS_TLS`` is the same rule in SQL)."""
    if server.protocol == Protocol.SMTP:
        return server.effective_port == 465 or server.smtp_uses_starttls
    return server.protocol == Protocol.HTTPS


@dataclass(frozen=True)
class Renewal:
    days_remaining: int
    needs_renewal: bool


def renewal(expires_at: datetime, now: datetime, renewal_days: int) -> Renewal:
    """Whole days left until ``expires_at`` (rounded down, negative once expired), and whether
    that is within ``renewal_days``. Rounding down means "less than a day left" reads 0."""
    days = math.floor((expires_at - now) / timedelta(days=1))
    return Renewal(days_remaining=days, needs_renewal=days <= renewal_days)


@dataclass(frozen=True)
class CertificateOutcome:
    """What one certificate check saw; ``error`` says why it is not valid."""

    valid: bool
    expires_at: datetime | None = None
    days_remaining: int | None = None
    issuer: str = ""
    subject: str = ""
    needs_renewal: bool = False
    error: str = ""
    fingerprint: str = ""  # SHA-256 of the DER certificate, hex; what certificate alerts key on


def readable_name(name: x509.Name) -> str:
    """``CN=…, O=…`` where the name has them, else the full RFC 4514 string."""
    parts = [
        f"{label}={attribute.value}"
        for oid, label in READABLE_NAME_PARTS
        for attribute in name.get_attributes_for_oid(oid)
    ]
    return (", ".join(parts) or name.rfc4514_string())[:500]


def describe(der: bytes, *, valid: bool, error: str, now: datetime, renewal_days: int) -> CertificateOutcome:
    """Read expiry, issuer and subject from a DER certificate; no network, no database."""
    cert = x509.load_der_x509_certificate(der)
    expires_at = cert.not_valid_after_utc
    rule = renewal(expires_at, now, renewal_days)
    return CertificateOutcome(
        valid=valid,
        expires_at=expires_at,
        days_remaining=rule.days_remaining,
        issuer=readable_name(cert.issuer),
        subject=readable_name(cert.subject),
        needs_renewal=rule.needs_renewal,
        error=error,
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


def inspect(
    host: str, port: int, *, timeout: float, now: datetime | None = None, smtp_starttls: bool = False
) -> CertificateOutcome:
    """Handshake with ``host:port`` (SNI = ``host``), after SMTP's STARTTLS with ``smtp_starttls``,
    and describe its certificate.

    Network and TLS trouble becomes ``error`` on an invalid outcome; only the private-address
    guard raises (``net.PrivateAddressError``), so ``/api/check-ssl/`` can answer it with 400.
    """
    try:
        peer = net.tls_peer_certificate(
            host, port, timeout=timeout, cafile=settings.CERT_CA_BUNDLE or None, smtp_starttls=smtp_starttls
        )
    except TimeoutError:
        return CertificateOutcome(valid=False, error=f"no TLS handshake within {timeout:g}s")
    except ssl.SSLError as exc:
        return CertificateOutcome(valid=False, error=f"TLS handshake failed: {exc.strerror or exc}")
    except OSError as exc:
        return CertificateOutcome(valid=False, error=f"connection failed: {exc.strerror or exc}")
    except ValueError as exc:  # an unusable CERT_CA_BUNDLE, or a name ssl refuses as SNI
        return CertificateOutcome(valid=False, error=str(exc))
    try:
        return describe(
            peer.der,
            valid=peer.verified,
            error=peer.verify_error,
            now=now or timezone.now(),
            renewal_days=settings.CERT_RENEWAL_DAYS,
        )
    except ValueError as exc:
        return CertificateOutcome(valid=False, error=f"unreadable certificate: {exc}")


def probe_certificate(server: Server, *, now: datetime | None = None) -> CertificateOutcome:
    """Handshake with the server (SNI = its host) and describe its certificate; never raises
    for network or TLS trouble, which becomes ``error`` on an invalid outcome."""
    port = server.effective_port
    if port is None:
        return CertificateOutcome(valid=False, error="the server has no port")
    try:
        starttls = server.protocol == Protocol.SMTP and port != 465
        return inspect(server.host, port, timeout=server.timeout, now=now, smtp_starttls=starttls)
    except net.PrivateAddressError as exc:
        return CertificateOutcome(valid=False, error=str(exc))


def record(server: Server, outcome: CertificateOutcome, claim: CertificateCheck | None = None) -> CertificateCheck:
    """Store ``outcome`` in the scheduler's ``claim`` row, or in a new row."""
    check = claim or CertificateCheck(server=server)
    check.checked_at = timezone.now()
    check.valid = outcome.valid
    check.expires_at = outcome.expires_at
    check.days_remaining = outcome.days_remaining
    check.issuer = outcome.issuer
    check.subject = outcome.subject
    check.needs_renewal = outcome.needs_renewal
    check.error = outcome.error
    check.fingerprint_sha256 = outcome.fingerprint
    check.in_progress = False
    check.save()
    return check


def check_certificate(server: Server, claim: CertificateCheck | None = None) -> CertificateCheck:
    """Probe the server's certificate (outside any transaction), then ``store_certificate``."""
    return store_certificate(server, probe_certificate(server), claim)


def store_certificate(
    server: Server, outcome: CertificateOutcome, claim: CertificateCheck | None = None
) -> CertificateCheck:
    """Store what a certificate check saw and queue its alerts (``services.alerts.certificates``)
    in one transaction."""
    with transaction.atomic():
        check = record(server, outcome, claim)
        certificate_alerts.on_certificate_check(server, check)
    log.info(
        "certificate_check server_id=%s valid=%s days=%s needs_renewal=%s error=%r",
        server.pk,
        check.valid,
        check.days_remaining,
        check.needs_renewal,
        check.error,
    )
    return check
