"""A throw-away certificate authority for the security tests, made with `cryptography`,
and OCPP hash data computed from the definition (RFC 6960 CertID) without the daemon's code.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Authority:
    """A root CA: issues server certificates, sub-CAs and signs station CSRs."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, name: str, serial: int | None = None) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(_now() - DAY)
            .not_valid_after(_now() + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def pem(self) -> str:
        return pem(self.cert)

    def issue(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        *,
        server_ip: str | None = None,
        days: int = 30,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - DAY)
            .not_valid_after(_now() + days * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server_ip:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str, days: int = 30) -> x509.Certificate:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        return self.issue(csr.subject, csr.public_key(), days=days)  # type: ignore[arg-type]

    def server_files(self, directory: Path, ip: str = "127.0.0.1") -> tuple[Path, Path]:
        """A server certificate for `ip` and its key, as files (for an SSLContext)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csms")])
        cert = self.issue(name, key.public_key(), server_ip=ip)
        cert_file, key_file = directory / "csms.pem", directory / "csms.key"
        cert_file.write_text(pem(cert))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file


def csms_tls(authority: Authority, directory: Path) -> ssl.SSLContext:
    """A TLS server context for the dev CSMS: a certificate for 127.0.0.1 from `authority`;
    a station may present a client certificate of `authority` (profile 3) or none (2)."""
    cert_file, key_file = authority.server_files(directory)
    ca_file = directory / "client-ca.pem"
    ca_file.write_text(authority.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cafile=ca_file)
    return context


# --- hash data, from the definition -------------------------------------------------------


def _der_item(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER item at `pos`."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def subject_public_key_bits(cert: x509.Certificate) -> bytes:
    """The content of the subjectPublicKey BIT STRING of `cert`'s SubjectPublicKeyInfo,
    read from its DER (SEQUENCE { AlgorithmIdentifier, BIT STRING })."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _, start, _ = _der_item(spki, 0)  # the outer SEQUENCE
    _, _, algorithm_end = _der_item(spki, start)  # AlgorithmIdentifier
    tag, bits_start, bits_end = _der_item(spki, algorithm_end)
    assert tag == 0x03  # BIT STRING; its first content byte counts the unused bits (0)
    assert spki[bits_start] == 0
    return spki[bits_start + 1 : bits_end]


def issuer_der(cert: x509.Certificate) -> bytes:
    """The DER of `cert`'s issuer Name as it stands in the certificate: TBSCertificate is
    SEQUENCE { [0] version, serialNumber, signature AlgorithmIdentifier, issuer, ... }."""
    tbs = cert.tbs_certificate_bytes
    _, pos, _ = _der_item(tbs, 0)
    for _ in range(3):  # version, serial number, signature algorithm
        _, _, pos = _der_item(tbs, pos)
    _, _, end = _der_item(tbs, pos)
    return tbs[pos:end]


def hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """OCPP CertificateHashDataType of `cert` (SHA256), as a CSMS would compute it."""
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(issuer_der(cert)).hexdigest(),
        "issuerKeyHash": hashlib.sha256(subject_public_key_bits(issuer)).hexdigest(),
        "serialNumber": format(cert.serial_number, "x"),
    }
