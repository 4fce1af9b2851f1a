"""A throw-away maker CA for the tests: a root, a firmware signing certificate it issues,
and signatures of image files made as a maker does (SHA-256, RSA PKCS#1 v1.5 or ECDSA)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(
    subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool, days: tuple[int, int]
) -> x509.Certificate:
    """A certificate valid from `days[0]` to `days[1]` days from now."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Maker:
    root: x509.Certificate
    root_key: Any
    signer: x509.Certificate
    signer_key: Any

    @property
    def root_pem(self) -> str:
        return pem(self.root)

    @property
    def signer_pem(self) -> str:
        return pem(self.signer)

    def sign(self, file: Path) -> str:
        """base64 of the signature of SHA-256(file), as `openssl dgst -sha256 -sign` makes it."""
        data = file.read_bytes()
        if isinstance(self.signer_key, rsa.RSAPrivateKey):
            sig = self.signer_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            sig = self.signer_key.sign(data, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(sig).decode()


def make_maker(name: str = "Maker", ecdsa: bool = False, expired: bool = False) -> Maker:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = issue(f"{name} Root", root_key, f"{name} Root", root_key, ca=True, days=(-10, 3650))
    signer_key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if ecdsa
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    signer = issue(f"{name} Firmware Signing", signer_key, f"{name} Root", root_key, ca=False,
                   days=(-5, -1 if expired else 365))  # fmt: skip
    return Maker(root, root_key, signer, signer_key)
