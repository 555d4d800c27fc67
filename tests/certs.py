"""Throwaway certificate authorities and leaf certificates for TLS certificate-check tests."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class CertAuthority:
    """A certificate authority: its key, certificate, and the PEM file a verifier trusts."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    bundle_path: str

    def issue(
        self,
        directory: str,
        *,
        hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
        not_after: datetime.datetime | None = None,
        not_before: datetime.datetime | None = None,
        name: str = "leaf",
    ) -> tuple[str, str]:
        """A leaf for ``hostnames`` signed by this CA; returns (chain PEM path, key PEM path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or _now() - DAY)
            .not_valid_after(not_after or _now() + 90 * DAY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert.public_bytes(serialization.Encoding.PEM)
        return (
            _write(os.path.join(directory, f"{name}-chain.pem"), chain),
            _write(os.path.join(directory, f"{name}-key.pem"), _key_pem(key)),
        )


def make_ca(
    directory: str, common_name: str = "PulseGuard Test CA", organization: str = "PulseGuard Tests"
) -> CertAuthority:
    """A self-signed CA whose certificate is written to ``<directory>/ca.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - DAY)
        .not_valid_after(_now() + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = _write(os.path.join(directory, "ca.pem"), cert.public_bytes(serialization.Encoding.PEM))
    return CertAuthority(key, cert, path)
