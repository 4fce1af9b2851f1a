"""What the daemon reads of a certificate with the standard library (certificate.py) is what
`cryptography` reads of it; the client key's match is checked by `ssl`."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from chargerd.security.certificate import dates_problem, read_pem
from chargerd.security.keys import key_matches

from . import pki


@pytest.mark.parametrize("issued", [
    lambda: pki.root("Plain Root"),
    lambda: pki.root("RSA Root", key=pki.rsa_key(), serial=0x80FF00112233),
    lambda: pki.leaf("CP-001", pki.ca("Sub, Inc. +1", pki.root())),
    lambda: pki.issue(x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, " Example #1 <CPO>; "),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Ladestation Süd"),
    ]), None),
    # after 2049 a certificate carries GeneralizedTime instead of UTCTime
    lambda: pki.root("Long Root", days=40 * 365),
])  # fmt: skip
def test_fields_match_cryptographys_reading(issued):
    cert = issued().cert
    [mine] = read_pem(pki.Issued(cert, None).pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert mine.der == der
    assert mine.fingerprint == hashlib.sha256(der).hexdigest()
    assert mine.subject == cert.subject.rfc4514_string()
    assert mine.issuer_der == cert.issuer.public_bytes()
    assert mine.subject_der == cert.subject.public_bytes()
    assert mine.serial_number == cert.serial_number
    assert mine.not_before == cert.not_valid_before_utc.replace(microsecond=0)
    assert mine.not_after == cert.not_valid_after_utc.replace(microsecond=0)
    assert mine.pem == cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_chain_is_read_in_order_and_other_pem_blocks_are_skipped():
    root = pki.root("Root")
    leaf = pki.leaf("Leaf", root)
    text = leaf.pem + leaf.key_pem.decode() + root.pem
    assert [c.subject for c in read_pem(text)] == ["CN=Leaf", "CN=Root"]
    assert read_pem(text)[1].named_issuer_of(read_pem(text)[0])


@pytest.mark.parametrize("text", [
    "",
    "not a certificate",
    "-----BEGIN CERTIFICATE-----\nxx",  # no end
    "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",  # no base64
    "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",  # truncated DER
])  # fmt: skip
def test_what_is_no_certificate_is_a_value_error(text):
    with pytest.raises(ValueError):
        read_pem(text)


def test_a_cut_certificate_is_a_value_error():
    der = pki.root().cert.public_bytes(serialization.Encoding.DER)
    with pytest.raises(ValueError):
        read_pem(ssl.DER_cert_to_PEM_cert(der[:-10]))


def test_dates():
    cert = read_pem(pki.root("Dated", days=10).pem)[0]
    now = dt.datetime.now(dt.UTC).timestamp()
    assert dates_problem(cert, now) is None
    assert "expired" in (dates_problem(cert, now + 20 * 86400) or "")
    assert "not valid before" in (dates_problem(cert, now - 5 * 86400) or "")


def test_the_client_key_match_is_checked_without_cryptography(tmp_path):
    root = pki.root()
    cert, key = pki.leaf("CP-001", root).write(tmp_path, "mine")
    _, other_key = pki.leaf("CP-002", root).write(tmp_path, "other")
    _, rsa_key = pki.leaf("CP-003", root, key=pki.rsa_key()).write(tmp_path, "rsa")
    assert key_matches(cert, key)
    assert not key_matches(cert, other_key)
    assert not key_matches(cert, rsa_key)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    with pytest.raises(ValueError):
        key_matches(cert, garbage)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(pki.ec_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ))  # fmt: skip
    with pytest.raises(ValueError, match="encrypted"):
        key_matches(cert, encrypted)
