"""The certificate store: install rules, limits, listing with hash data, delete rules."""

from __future__ import annotations

import datetime as dt

import pytest

from chargerd.security.certs import CertificateStore
from chargerd.security.hashdata import hash_data
from chargerd.security.keys import StationCertificate, certificate_signed, new_csr
from chargerd.store import Store

from . import pki
from .test_station_certificate import sign_csr


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


def make(store, tmp_path, ca_file=None, max_entries=20):
    return CertificateStore(store.db, tmp_path, ca_file, StationCertificate(tmp_path),
                            max_entries)  # fmt: skip


async def test_install_a_root_lists_it_with_its_hash_data(store, tmp_path):
    certs = make(store, tmp_path)
    root = pki.root("CSMS Root")
    assert await certs.install("CSMSRootCertificate", root.pem) == "Accepted"
    [entry] = certs.installed()
    assert entry.cert_type == "CSMSRootCertificate"
    assert entry.hash == hash_data(root.facts)
    assert "CSMS Root" in entry.subject
    assert certs.roots("CSMSRootCertificate") == [root.facts]
    assert certs.roots("ManufacturerRootCertificate") == []


async def test_the_index_survives_a_restart(store, tmp_path):
    root = pki.root()
    await make(store, tmp_path).install("ManufacturerRootCertificate", root.pem)
    assert [c.cert for c in make(store, tmp_path).installed()] == [root.facts]


@pytest.mark.parametrize("pem_of", [
    lambda: pki.leaf("CP-001", pki.root()).pem,  # not a root: unmanageable once installed
    lambda: pki.issue(pki.name("Not CA"), None).pem,  # self-signed, CA:FALSE
    lambda: pki.root(days=1, not_before=pki.NOW - dt.timedelta(days=3)).pem,  # expired
    lambda: pki.root(key=pki.rsa_key(1024)).pem,  # too weak
    lambda: "not a certificate",
    lambda: pki.root().pem + pki.root().pem,  # two at once
])  # fmt: skip
async def test_what_is_not_a_valid_root_is_rejected(store, tmp_path, pem_of):
    certs = make(store, tmp_path)
    assert await certs.install("CSMSRootCertificate", pem_of()) == "Rejected"
    assert certs.last_reason
    assert certs.installed() == []


async def test_unknown_type_is_rejected(store, tmp_path):
    certs = make(store, tmp_path)
    assert await certs.install("ChargingStationCertificate", pki.root().pem) == "Rejected"


async def test_the_store_limit_rejects_more(store, tmp_path):
    certs = make(store, tmp_path, max_entries=2)
    assert await certs.install("CSMSRootCertificate", pki.root("A").pem) == "Accepted"
    assert await certs.install("V2GRootCertificate", pki.root("B").pem) == "Accepted"
    assert await certs.install("MORootCertificate", pki.root("C").pem) == "Rejected"
    certs.max_entries = 3
    assert await certs.install("MORootCertificate", pki.root("C").pem) == "Accepted"


async def test_installing_the_same_root_again_changes_nothing(store, tmp_path):
    certs = make(store, tmp_path)
    root = pki.root()
    assert await certs.install("CSMSRootCertificate", root.pem) == "Accepted"
    assert await certs.install("CSMSRootCertificate", root.pem) == "Accepted"
    assert len(certs.installed()) == 1


async def test_delete_by_hash_data(store, tmp_path):
    certs = make(store, tmp_path)
    a, b = pki.root("A"), pki.root("B")
    await certs.install("CSMSRootCertificate", a.pem)
    await certs.install("ManufacturerRootCertificate", b.pem)
    wire = hash_data(b.facts).to_wire()
    assert certs.delete({**wire, "serialNumber": "00" + wire["serialNumber"].upper()}) == "Accepted"
    assert [c.cert for c in certs.installed()] == [a.facts]
    assert certs.delete(wire) == "NotFound"


async def test_the_last_csms_root_cannot_be_deleted(store, tmp_path):
    certs = make(store, tmp_path)
    a, b = pki.root("A"), pki.root("B")
    await certs.install("CSMSRootCertificate", a.pem)
    assert certs.delete(hash_data(a.facts).to_wire()) == "Failed"
    await certs.install("CSMSRootCertificate", b.pem)
    assert certs.delete(hash_data(a.facts).to_wire()) == "Accepted"
    assert certs.delete(hash_data(b.facts).to_wire()) == "Failed"


async def test_ca_file_counts_as_an_installed_csms_root(store, tmp_path):
    maker = pki.root("Maker CSMS Root")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(maker.pem)
    certs = make(store, tmp_path, ca_file=str(ca_file))
    [entry] = certs.installed(["CSMSRootCertificate"])
    assert entry.source == "config" and entry.cert == maker.facts
    assert certs.delete(hash_data(maker.facts).to_wire()) == "Failed"  # the last one
    other = pki.root("Other")
    await certs.install("CSMSRootCertificate", other.pem)
    assert certs.delete(hash_data(maker.facts).to_wire()) == "Accepted"
    assert ca_file.exists()  # the maker's file stays; it is no longer trusted
    assert certs.roots("CSMSRootCertificate") == [other.facts]
    assert make(store, tmp_path, ca_file=str(ca_file)).roots("CSMSRootCertificate") == [other.facts]


async def test_the_stations_own_certificate_is_listed_and_cannot_be_deleted(store, tmp_path):
    root = pki.root()
    sub = pki.ca("Sub", root)
    signed = sign_csr(new_csr(tmp_path, "CP-001", "CPO"), sub)
    certificate_signed(tmp_path, signed.pem + sub.pem, "CP-001", [root.cert])
    station = StationCertificate(tmp_path)
    station.connected(station.for_connection())
    certs = make(store, tmp_path)
    await certs.install("CSMSRootCertificate", root.pem)
    [own] = certs.installed(["ChargingStationCertificate"])
    assert own.hash == hash_data(signed.facts, sub.facts)
    assert own.children == (hash_data(sub.facts, root.facts),)
    assert certs.delete(own.hash.to_wire()) == "Failed"
    assert certs.delete(own.children[0].to_wire()) == "Failed"
