"""The station's key pair, its CSR, and a CertificateSigned chain checked before use."""

from __future__ import annotations

import datetime as dt
import stat

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from chargerd.security.keys import StationCertificate, certificate_signed, new_csr

from . import pki


def sign_csr(csr_pem: str, issuer: pki.Issued, cn: str | None = None, days: float = 365):
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    subject = pki.name(cn) if cn else csr.subject
    return pki.issue(subject, issuer, public_key=csr.public_key(), days=days)


def test_csr_carries_the_station_id_and_organisation_and_is_signed(tmp_path):
    pem = new_csr(tmp_path, "CP-001", "Example CPO")
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-001"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"
    assert csr.signature_hash_algorithm.name == "sha256"
    assert csr.public_key().curve.name == "secp256r1"


def test_pending_key_file_is_created_0600_and_matches_the_csr(tmp_path):
    pem = new_csr(tmp_path, "CP-001", "CPO")
    key_file = tmp_path / "certs" / "pending.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.public_key() == key.public_key()


def test_a_good_chain_is_accepted_and_used_from_the_next_connection(tmp_path):
    root = pki.root()
    sub = pki.ca("Sub CA", root)
    signed = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), sub)
    assert certificate_signed(tmp_path, signed.pem + sub.pem, "CP-001", [root.cert]) is None
    station = StationCertificate(tmp_path)
    assert station.current() is None  # not before it has connected
    files = station.for_connection()
    assert files is not None and files.candidate
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    station.connected(files)
    current = station.current()
    assert current is not None and not current.candidate
    assert station.chain() == [signed.facts, sub.facts]


def test_a_new_certificate_that_fails_to_connect_falls_back_to_the_old(tmp_path):
    root = pki.root()
    old = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), root)
    certificate_signed(tmp_path, old.pem, "CP-001", [root.cert])
    station = StationCertificate(tmp_path)
    station.connected(station.for_connection())
    new = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), root)
    certificate_signed(tmp_path, new.pem, "CP-001", [root.cert])
    assert station.refused(station.for_connection())
    assert station.for_connection() == station.current()
    assert station.chain()[0].serial_number == old.cert.serial_number


def test_a_chain_for_another_key_is_refused(tmp_path):
    root = pki.root()
    new_csr(tmp_path, "CP-001", "CPO")
    other = pki.leaf("CP-001", root)  # a certificate for a key that is not ours
    reason = certificate_signed(tmp_path, other.pem, "CP-001", [root.cert])
    assert reason is not None and "key" in reason
    assert StationCertificate(tmp_path).for_connection() is None


def test_an_expired_certificate_is_refused(tmp_path):
    root = pki.root()
    csr = new_csr(tmp_path, "CP-001", "CPO")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    expired = pki.issue(pki.name("CP-001"), root, days=10, not_before=old,
                        public_key=x509.load_pem_x509_csr(csr.encode()).public_key())  # fmt: skip
    reason = certificate_signed(tmp_path, expired.pem, "CP-001", [root.cert])
    assert reason is not None and "expired" in reason


def test_a_certificate_for_another_station_id_is_refused(tmp_path):
    root = pki.root()
    signed = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), root, cn="CP-999")
    reason = certificate_signed(tmp_path, signed.pem, "CP-001", [root.cert])
    assert reason is not None and "CP-999" in reason


def test_a_chain_not_from_an_installed_root_is_refused(tmp_path):
    ours, theirs = pki.root("Ours"), pki.root("Theirs")
    signed = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), theirs)
    reason = certificate_signed(tmp_path, signed.pem, "CP-001", [ours.cert])
    assert reason is not None and "root" in reason


def test_a_chain_whose_sub_ca_did_not_sign_the_leaf_is_refused(tmp_path):
    root = pki.root()
    sub, stranger = pki.ca("Sub", root), pki.ca("Stranger", root)
    signed = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), stranger)
    reason = certificate_signed(tmp_path, signed.pem + sub.pem, "CP-001", [root.cert])
    assert reason is not None and "not signed by" in reason


def test_garbage_and_no_pending_csr_are_refused(tmp_path):
    root = pki.root()
    assert "pending" in certificate_signed(tmp_path, root.pem, "CP-001", [root.cert])
    new_csr(tmp_path, "CP-001", "CPO")
    assert "parse" in certificate_signed(tmp_path, "-----BEGIN CERTIFICATE-----\nxx", "CP-001", [])
    assert (tmp_path / "certs" / "pending.key").exists()  # kept for a good answer to come
