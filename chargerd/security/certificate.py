"""What the daemon reads of an X.509 certificate, with the standard library only.

The daemon lists certificates, builds the TLS trust of each connection attempt, shows its
own certificate in `chargerctl status` and watches its expiry. None of this needs a
cryptographic library: the fields come straight from the DER (RFC 5280), fingerprints from
`hashlib`, PEM from `ssl`. Checking signatures and keys does need one, and runs in the
worker process (worker.py), so `cryptography` (about 10 MB with the OpenSSL it bundles)
never lands in the daemon's memory.

Certificates read here come from files the daemon wrote after the worker accepted them, or
from the maker's configuration; a malformed one raises ValueError.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

PEM_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.DOTALL
)
SEQUENCE, INTEGER, BIT_STRING, OID = 0x30, 0x02, 0x03, 0x06
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18
VERSION = 0xA0  # [0] EXPLICIT in TBSCertificate
# Attribute types with a short name in RFC 4514 strings (as cryptography prints them)
SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}  # fmt: skip
STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1",
                 0x1E: "utf-16-be", 0x1C: "utf-32-be"}  # fmt: skip


def _item(data: bytes, pos: int, end: int | None = None) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER item at `pos`."""
    end = len(data) if end is None else end
    if pos + 2 > end:
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, tag: int, end: int) -> tuple[int, int]:
    found, start, stop = _item(data, pos, end)
    if found != tag:
        raise ValueError(f"DER tag {found:#04x} where {tag:#04x} was expected")
    return start, stop


def _oid(raw: bytes) -> str:
    arcs, value = [], 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise ValueError("empty OID")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == UTC_TIME:  # YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = f"{19 if year >= 50 else 20}{text}"
    elif tag != GENERALIZED_TIME:
        raise ValueError(f"DER tag {tag:#04x} is no time")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def _escape(value: str) -> str:
    """An attribute value as RFC 4514 writes it."""
    for char in '\\"+,;<>':
        value = value.replace(char, "\\" + char)
    value = value.replace("\0", "\\00")
    if value[:1] in ("#", " "):
        value = "\\" + value
    if value.endswith(" "):
        value = value[:-1] + "\\ "
    return value


def name_text(der: bytes) -> str:
    """A DER Name as an RFC 4514 string, most significant RDN last (like OpenSSL and
    cryptography print it): "CN=CP-001,O=Example CPO"."""
    start, end = _expect(der, 0, SEQUENCE, len(der))
    rdns = []
    while start < end:
        _, set_start, set_end = _item(der, start, end)
        parts = []
        pos = set_start
        while pos < set_end:
            seq_start, seq_end = _expect(der, pos, SEQUENCE, set_end)
            oid_start, oid_end = _expect(der, seq_start, OID, seq_end)
            tag, value_start, value_end = _item(der, oid_end, seq_end)
            oid = _oid(der[oid_start:oid_end])
            codec = STRING_CODECS.get(tag)
            if codec:
                value = _escape(der[value_start:value_end].decode(codec, errors="replace"))
            else:
                value = "#" + der[oid_end:value_end].hex()
            parts.append(f"{SHORT_NAMES.get(oid, oid)}={value}")
            pos = seq_end
        rdns.append("+".join(parts))
        start = set_end
    return ",".join(reversed(rdns))


@dataclass(frozen=True)
class Certificate:
    """The fields of one certificate the daemon uses, read from its DER."""

    der: bytes
    serial_number: int
    issuer_der: bytes  # the issuer Name as it stands in the certificate
    subject_der: bytes
    not_before: datetime
    not_after: datetime
    key_bits: bytes  # the content of subjectPublicKey (what OCPP's issuerKeyHash hashes)

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        try:
            return cls._parse(bytes(der))
        except (IndexError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed certificate ({exc})") from None

    @classmethod
    def _parse(cls, der: bytes) -> Certificate:
        cert_start, cert_end = _expect(der, 0, SEQUENCE, len(der))
        if cert_end != len(der):
            raise ValueError("trailing bytes after the certificate")
        pos, tbs_end = _expect(der, cert_start, SEQUENCE, cert_end)
        if der[pos] == VERSION:
            pos = _item(der, pos, tbs_end)[2]
        serial_start, pos = _expect(der, pos, INTEGER, tbs_end)
        serial = int.from_bytes(der[serial_start:pos], "big", signed=True)
        pos = _expect(der, pos, SEQUENCE, tbs_end)[1]  # signature algorithm
        issuer_at = pos
        pos = _expect(der, pos, SEQUENCE, tbs_end)[1]
        issuer = der[issuer_at:pos]
        validity_start, pos = _expect(der, pos, SEQUENCE, tbs_end)
        tag, start, end = _item(der, validity_start, pos)
        not_before = _time(tag, der[start:end])
        tag, start, end = _item(der, end, pos)
        not_after = _time(tag, der[start:end])
        subject_at = pos
        pos = _expect(der, pos, SEQUENCE, tbs_end)[1]
        subject = der[subject_at:pos]
        spki_start, spki_end = _expect(der, pos, SEQUENCE, tbs_end)
        algorithm_end = _expect(der, spki_start, SEQUENCE, spki_end)[1]
        bits_start, bits_end = _expect(der, algorithm_end, BIT_STRING, spki_end)
        if bits_start == bits_end or der[bits_start] != 0:
            raise ValueError("a public key with unused bits")
        return cls(der, serial, issuer, subject, not_before, not_after,
                   der[bits_start + 1 : bits_end])  # fmt: skip

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the DER, lowercase hex."""
        return hashlib.sha256(self.der).hexdigest()

    @cached_property
    def subject(self) -> str:
        return name_text(self.subject_der) or "(empty subject)"

    @property
    def pem(self) -> str:
        return ssl.DER_cert_to_PEM_cert(self.der)

    def named_issuer_of(self, child: Certificate) -> bool:
        """Whether this certificate's subject is `child`'s issuer. Signatures were checked
        when the certificates were accepted (by the worker); listing only pairs them up."""
        return child.issuer_der == self.subject_der


def read_pem(text: str | bytes) -> list[Certificate]:
    """The certificates of a PEM text, in order; ValueError when there is none or one is
    malformed."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    certs = []
    for block in PEM_BLOCK.findall(text):
        try:
            der = binascii.a2b_base64("".join(block.split()).encode(), strict_mode=True)
        except binascii.Error as exc:
            raise ValueError(f"bad base64 in a PEM certificate ({exc})") from None
        certs.append(Certificate.from_der(der))
    if not certs:
        raise ValueError("no certificate in the PEM text")
    return certs


def dates_problem(cert: Certificate, now: float) -> str | None:
    """Why `cert` is not valid at `now` (None: it is)."""
    moment = datetime.fromtimestamp(now, UTC)
    if moment < cert.not_before:
        return f"{cert.subject} is not valid before {cert.not_before:%Y-%m-%d %H:%M}Z"
    if moment > cert.not_after:
        return f"{cert.subject} expired on {cert.not_after:%Y-%m-%d %H:%M}Z"
    return None
