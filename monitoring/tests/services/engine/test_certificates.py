"""TLS certificate checks: the renewal rule without a network, then real handshakes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from django.test import override_settings
from django.utils import timezone

from monitoring.models import CertificateCheck
from monitoring.services.engine.certificates import check_certificate, describe, readable_name, renewal
from monitoring.tests.factories import make_server
from tests.certs import CertAuthority, make_ca
from tests.targets import LocalHTTPSServer

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- The rule, no network.


@pytest.mark.parametrize(
    ("left", "days", "needs"),
    [
        (timedelta(days=90), 90, False),
        (timedelta(days=15), 15, False),
        (timedelta(days=14), 14, True),
        (timedelta(days=5, hours=1), 5, True),
        (timedelta(hours=23), 0, True),
        (timedelta(hours=-1), -1, True),
        (timedelta(days=-2), -2, True),
    ],
)
def test_renewal_counts_whole_days_left_and_renews_within_the_threshold(left, days, needs):
    rule = renewal(NOW + left, NOW, renewal_days=14)
    assert (rule.days_remaining, rule.needs_renewal) == (days, needs)


def test_renewal_days_of_zero_renews_only_on_the_last_day():
    assert renewal(NOW + timedelta(days=1), NOW, renewal_days=0).needs_renewal is False
    assert renewal(NOW + timedelta(hours=5), NOW, renewal_days=0).needs_renewal is True


def test_a_name_reads_as_cn_and_o_and_falls_back_to_the_full_name():
    both = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "R11"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Let's Encrypt")]
    )
    assert readable_name(both) == "CN=R11, O=Let's Encrypt"
    unit_only = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops")])
    assert readable_name(unit_only) == "OU=Ops"


def test_describe_reads_expiry_issuer_and_subject_from_a_certificate(tmp_path):
    ca = make_ca(str(tmp_path))
    chain, _ = ca.issue(
        str(tmp_path),
        hostnames=("shop.example",),
        not_before=NOW - timedelta(days=80),
        not_after=NOW + timedelta(days=10),
    )
    with open(chain, "rb") as f:
        der = x509.load_pem_x509_certificate(f.read()).public_bytes(Encoding.DER)
    outcome = describe(der, valid=True, error="", now=NOW, renewal_days=14)
    assert outcome.expires_at == NOW + timedelta(days=10)
    assert outcome.days_remaining == 10 and outcome.needs_renewal is True
    assert outcome.issuer == "CN=PulseGuard Test CA, O=PulseGuard Tests"
    assert outcome.subject == "CN=shop.example"


# --- Real handshakes against servers on 127.0.0.1.


@pytest.fixture
def ca(tmp_path) -> CertAuthority:
    return make_ca(str(tmp_path))


@pytest.fixture
def trusting(ca) -> Iterator[CertAuthority]:
    """The probe trusts only this test CA (CERT_CA_BUNDLE replaces the system store)."""
    with override_settings(CERT_CA_BUNDLE=ca.bundle_path):
        yield ca


def serve(chain_and_key: tuple[str, str]) -> LocalHTTPSServer:
    return LocalHTTPSServer(*chain_and_key)


def https_server(owner, port, **fields):
    values = {"protocol": "https", "host": "127.0.0.1", "port": port, "timeout": 5}
    values.update(fields)
    return make_server(owner, **values)


@pytest.mark.django_db
def test_a_self_signed_certificate_is_invalid_but_still_read(alice, https_target):
    server = https_server(alice, https_target.port)
    check = check_certificate(server)
    row = CertificateCheck.objects.get(server=server)
    assert row.pk == check.pk and not row.in_progress
    assert row.valid is False
    assert "self-signed certificate" in row.error
    # The fixture's certificate runs out 30 days after it was made, a moment ago: read anyway.
    assert abs(row.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=5)
    assert row.days_remaining == 29  # whole days, rounded down
    assert row.issuer == "CN=localhost" and row.subject == "CN=localhost"
    assert row.needs_renewal is False


@pytest.mark.django_db
def test_a_certificate_from_a_trusted_ca_is_valid(alice, tmp_path, trusting):
    with serve(trusting.issue(str(tmp_path))) as target:
        check = check_certificate(https_server(alice, target.port))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is True and row.error == ""
    assert row.issuer == "CN=PulseGuard Test CA, O=PulseGuard Tests"
    assert row.subject == "CN=localhost"
    assert row.days_remaining == 89 and row.needs_renewal is False


@pytest.mark.django_db
def test_the_servers_host_is_the_sni_name_and_is_verified(alice, tmp_path, trusting):
    seen: list[str | None] = []
    with serve(trusting.issue(str(tmp_path))) as target:
        target.httpd.socket.context.sni_callback = lambda sock, name, ctx: seen.append(name)
        check = check_certificate(https_server(alice, target.port, host="localhost"))
    assert check.valid is True, check.error
    assert "localhost" in seen


@pytest.mark.django_db
def test_a_certificate_expiring_in_5_days_needs_renewal(alice, tmp_path, trusting):
    soon = timezone.now() + timedelta(days=5, hours=1)
    with serve(trusting.issue(str(tmp_path), not_after=soon)) as target:
        check = check_certificate(https_server(alice, target.port))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is True
    assert row.days_remaining == 5
    assert row.needs_renewal is True


@pytest.mark.django_db
def test_the_renewal_threshold_is_a_setting(alice, https_target):
    with override_settings(CERT_RENEWAL_DAYS=30):
        check = check_certificate(https_server(alice, https_target.port))
    assert CertificateCheck.objects.get(pk=check.pk).needs_renewal is True


@pytest.mark.django_db
def test_an_expired_certificate_is_invalid_with_negative_days(alice, tmp_path, trusting):
    now = timezone.now()
    expired = now - timedelta(days=3) + timedelta(hours=1)  # 2 days 23 hours ago: rounded down, -3
    chain = trusting.issue(str(tmp_path), not_before=now - timedelta(days=90), not_after=expired)
    with serve(chain) as target:
        check = check_certificate(https_server(alice, target.port))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is False and "certificate has expired" in row.error
    assert row.days_remaining == -3 and row.needs_renewal is True


@pytest.mark.django_db
def test_a_certificate_for_another_name_is_invalid(alice, tmp_path, trusting):
    with serve(trusting.issue(str(tmp_path), hostnames=("other.example",))) as target:
        check = check_certificate(https_server(alice, target.port))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is False and "mismatch" in row.error
    assert row.subject == "CN=other.example" and row.expires_at is not None


@pytest.mark.django_db
def test_a_closed_port_is_an_error_not_a_crash(alice, tcp_closed_port):
    check = check_certificate(https_server(alice, tcp_closed_port))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is False and row.error.startswith("connection failed")
    assert row.expires_at is None and row.days_remaining is None and row.issuer == ""
    assert row.needs_renewal is False


@pytest.mark.django_db
def test_a_port_that_does_not_speak_tls_is_a_handshake_error(alice, http_target):
    check = check_certificate(https_server(alice, http_target.port))
    assert CertificateCheck.objects.get(pk=check.pk).error.startswith("TLS handshake failed")


@pytest.mark.django_db
def test_a_silent_port_times_out_within_the_servers_timeout(alice, tcp_open_port):
    check = check_certificate(https_server(alice, tcp_open_port, timeout=0.5))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is False and row.error == "no TLS handshake within 0.5s"


@pytest.mark.django_db
def test_private_addresses_are_refused_when_not_allowed(alice, https_target):
    server = https_server(alice, https_target.port)
    with override_settings(MONITOR_ALLOW_PRIVATE_TARGETS=False):
        check = check_certificate(server)
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is False and "private or reserved address" in row.error and row.expires_at is None


@pytest.mark.django_db
def test_a_missing_ca_bundle_is_an_error_that_names_it(alice, https_target, tmp_path):
    missing = str(tmp_path / "nowhere.pem")
    with override_settings(CERT_CA_BUNDLE=missing):
        check = check_certificate(https_server(alice, https_target.port))
    row = CertificateCheck.objects.get(pk=check.pk)
    assert row.valid is False and row.error.startswith(f"CA bundle {missing!r} could not be loaded")
