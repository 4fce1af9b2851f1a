"""A throw-away PKI for tests: roots, sub-CAs and leaves made with `cryptography`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from chargerd.security.certificate import Certificate, read_pem

NOW = dt.datetime.now(dt.UTC)


def ec_key() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def facts(self) -> Certificate:
        """The certificate as the daemon reads it (chargerd/security/certificate.py)."""
        return read_pem(self.pem)[0]

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, stem: str, chain: list[Issued] = ()) -> tuple[Path, Path]:
        cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert.write_text(self.pem + "".join(c.pem for c in chain))
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


def issue(
    subject: x509.Name,
    issuer: Issued | None = None,
    key: Any = None,
    ca: bool = False,
    serial: int | None = None,
    days: float = 365,
    not_before: dt.datetime | None = None,
    hosts: tuple[str, ...] = (),
    public_key: Any = None,
) -> Issued:
    """A certificate for `subject` signed by `issuer` (self-signed when None)."""
    key = key or ec_key()
    start = not_before or NOW - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key or key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        import ipaddress

        sans: list[x509.GeneralName] = []
        for h in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def root(cn: str = "Test Root", key: Any = None, **kw: Any) -> Issued:
    return issue(name(cn), None, key=key, ca=True, **kw)


def ca(cn: str, parent: Issued, key: Any = None, **kw: Any) -> Issued:
    return issue(name(cn), parent, key=key, ca=True, **kw)


def leaf(cn: str, parent: Issued, key: Any = None, **kw: Any) -> Issued:
    return issue(name(cn), parent, key=key, **kw)


def load_certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def load_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, None)


def sign_csr(csr_pem: str, issuer: Issued, days: float = 365) -> Issued:
    """What a CSMS's CA does with a station's CSR: a certificate for its key and subject."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    return issue(csr.subject, issuer, public_key=csr.public_key(), days=days)
