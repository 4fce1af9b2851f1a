"""Hash data as OCPP (an OCSP CertID, RFC 6960) defines it, computed independently here
from the DER structures rather than with the module's own helpers."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chargerd.security.hashdata import HashData, hash_data

from . import pki


def spki_bit_string(public_key) -> bytes:
    """The content of subjectPublicKey, read out of the SubjectPublicKeyInfo DER: the BIT
    STRING is its last element; skip its tag, length and unused-bits byte."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    # walk: SEQUENCE { SEQUENCE algorithm, BIT STRING }
    def length(at: int) -> tuple[int, int]:
        first = der[at]
        if first < 0x80:
            return first, at + 1
        n = first & 0x7F
        return int.from_bytes(der[at + 1 : at + 1 + n], "big"), at + 1 + n

    _, body = length(1)  # outer SEQUENCE
    alg_len, alg_body = length(body + 1)
    bit_at = alg_body + alg_len
    assert der[bit_at] == 0x03
    bits_len, bits_body = length(bit_at + 1)
    assert der[bits_body] == 0  # no unused bits
    return der[bits_body + 1 : bits_body + bits_len]


def test_root_hash_data_uses_its_own_name_and_key():
    root = pki.root("Hash Root", serial=0x1234)
    h = hash_data(root.facts)
    assert h.hash_algorithm == "SHA256"
    assert h.issuer_name_hash == hashlib.sha256(root.cert.issuer.public_bytes()).hexdigest()
    assert h.issuer_key_hash == hashlib.sha256(spki_bit_string(root.key.public_key())).hexdigest()
    assert h.serial_number == "1234"


def test_leaf_of_an_rsa_issuer_hashes_the_issuers_key_not_its_own():
    parent = pki.root("RSA Root", key=pki.rsa_key())
    child = pki.leaf("CP-001", parent)
    h = hash_data(child.facts, parent.facts)
    expected = hashlib.sha256(spki_bit_string(parent.key.public_key())).hexdigest()
    assert h.issuer_key_hash == expected
    assert h.issuer_key_hash != hashlib.sha256(spki_bit_string(child.key.public_key())).hexdigest()
    assert h.issuer_name_hash == hashlib.sha256(parent.cert.subject.public_bytes()).hexdigest()


def test_leaf_of_an_ec_sub_ca():
    top = pki.root("EC Root")
    sub = pki.ca("EC Sub", top)
    child = pki.leaf("CP-001", sub)
    h = hash_data(child.facts, sub.facts)
    assert h.issuer_key_hash == hashlib.sha256(spki_bit_string(sub.key.public_key())).hexdigest()
    assert h.issuer_name_hash == hashlib.sha256(sub.cert.subject.public_bytes()).hexdigest()


def test_serial_with_the_top_bit_set_has_no_leading_zero_byte():
    # DER encodes 0x80... with a 00 in front; OCPP wants the number in hex without it
    cert = pki.root("Top Bit", serial=0x80FF00112233).facts
    assert hash_data(cert).serial_number == "80ff00112233"


def test_sha384_hash_data():
    root = pki.root("384")
    h = hash_data(root.facts, algorithm="SHA384")
    assert h.issuer_name_hash == hashlib.sha384(root.cert.subject.public_bytes()).hexdigest()


def test_matches_a_csms_request_case_insensitively_and_serials_as_numbers():
    h = HashData("SHA256", "ab" * 32, "cd" * 32, "1a2b")
    wire = h.to_wire()
    assert wire == {"hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32,
                    "issuerKeyHash": "cd" * 32, "serialNumber": "1a2b"}  # fmt: skip
    assert h.matches({**wire, "issuerNameHash": "AB" * 32, "serialNumber": "001A2B"})
    assert not h.matches({**wire, "serialNumber": "1a2c"})
    assert not h.matches({**wire, "hashAlgorithm": "SHA384"})
    assert not h.matches({"hashAlgorithm": "SHA256"})
