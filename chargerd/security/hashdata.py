"""Certificate hash data as OCPP identifies a certificate: an OCSP CertID (RFC 6960).

issuerNameHash is the hash of the DER of the certificate's issuer Name; issuerKeyHash the
hash of the issuer's public key bits (the content of its subjectPublicKey BIT STRING, not
the whole SubjectPublicKeyInfo) — the parent's key for a sub-CA or a leaf, a root's own
key; serialNumber the serial in hex without leading zeros (nor the zero byte DER puts in
front of a serial whose top bit is set).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .certificate import Certificate

ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}


@dataclass(frozen=True)
class HashData:
    hash_algorithm: str  # "SHA256", "SHA384" or "SHA512"
    issuer_name_hash: str  # lowercase hex
    issuer_key_hash: str  # lowercase hex
    serial_number: str  # lowercase hex, no leading zeros

    def matches(self, other: dict[str, Any]) -> bool:
        """Whether a CSMS's certificateHashData (camelCase keys) names this certificate:
        hex compared case-insensitively, serials as numbers (some CSMSes keep leading zeros)."""
        try:
            return (
                str(other["hashAlgorithm"]).upper() == self.hash_algorithm
                and str(other["issuerNameHash"]).lower() == self.issuer_name_hash
                and str(other["issuerKeyHash"]).lower() == self.issuer_key_hash
                and int(str(other["serialNumber"]), 16) == int(self.serial_number, 16)
            )
        except (KeyError, ValueError):
            return False

    def to_wire(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> HashData:
        return cls(row["hashAlgorithm"], row["issuerNameHash"], row["issuerKeyHash"],
                   row["serialNumber"])  # fmt: skip


def hash_data(cert: Certificate, issuer: Certificate | None = None,
              algorithm: str = "SHA256") -> HashData:  # fmt: skip
    """Hash data of `cert` issued by `issuer`; None: `cert` is a self-signed root and its
    own key counts."""
    name = ALGORITHMS[algorithm]
    signer = cert if issuer is None else issuer
    return HashData(
        hash_algorithm=algorithm,
        issuer_name_hash=hashlib.new(name, cert.issuer_der).hexdigest(),
        issuer_key_hash=hashlib.new(name, signer.key_bits).hexdigest(),
        serial_number=format(cert.serial_number, "x"),
    )
