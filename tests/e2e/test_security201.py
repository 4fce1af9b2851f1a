"""OCPP 2.0.1 security (blocks A and M) end to end: the daemon against the dev CSMS serving
TLS with a throw-away CA made here (security profile 2 unless a test says otherwise).

M03-M05 with hash data computed here from the definition; A02 SignCertificate sent again
after CertSigningWaitMinimum and CertificateSigned used for mutual TLS once A05 has raised
the profile to 3 (SetNetworkProfile + NetworkConfigurationPriority); A01 BasicAuthPassword
rotated, the old one kept when the new one is refused; no lower profile; no secret in the
daemon's log or the frame log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from devcsms import Csms201

from .conftest import STATION_ID, wait_call, wait_until
from .conftest201 import Station201, station
from .pki import Authority, csms_tls, hash_data, pem
from .test_security16 import PASSWORD, basic_password, connects_after, logs_of, secure

__all__ = ["station"]  # conftest201's fixture, on this module's TLS csms

SECURITY = {"name": "SecurityCtrlr"}


@pytest.fixture
def authority() -> Authority:
    return Authority.make("Test CSMS Root CA 201", serial=0xFF00_0001)  # top bit set


@pytest.fixture
async def csms(authority: Authority, tmp_path: Path):
    tls_dir = tmp_path / "csms-tls"
    tls_dir.mkdir()
    server = Csms201(close_timeout=0.5, password=PASSWORD, ssl=csms_tls(authority, tls_dir))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    violations = server.ledger.violations
    assert violations == [], "protocol violations of the station:\n" + "\n".join(violations)


async def set_variable(csms: Csms201, component: str, name: str, value: str) -> dict:
    data = {"component": {"name": component}, "variable": {"name": name}, "attributeValue": value}
    answer = await csms.call(STATION_ID, "SetVariables", {"setVariableData": [data]})
    return answer["setVariableResult"][0]


async def get_variable(csms: Csms201, component: str, name: str) -> dict:
    data = {"component": {"name": component}, "variable": {"name": name}}
    answer = await csms.call(STATION_ID, "GetVariables", {"getVariableData": [data]})
    return answer["getVariableResult"][0]


def network_profile(url: str, slot: int, profile: int) -> dict:
    return {
        "configurationSlot": slot,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": url,
            "messageTimeout": 30,
            "securityProfile": profile,
            "ocppInterface": "Wired0",
        },
    }


# --- M03-M05 -----------------------------------------------------------------------------


async def test_install_list_delete_all_root_types(
    csms: Csms201, station: Station201, authority: Authority
):
    secure(station, authority)
    await station.start()
    installed = {"CSMSRootCertificate": authority}
    for kind in ("CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate",
                 "MORootCertificate"):  # fmt: skip
        ca = Authority.make(f"{kind} test")
        answer = await csms.call(
            STATION_ID, "InstallCertificate", {"certificateType": kind, "certificate": ca.pem}
        )
        assert answer == {"status": "Accepted"}
        if kind != "CSMSRootCertificate":
            installed[kind] = ca
        else:
            second_csms_root = ca

    listed = await csms.call(STATION_ID, "GetInstalledCertificateIds", {})
    chains = listed["certificateHashDataChain"]
    expected = [
        {"certificateType": kind, "certificateHashData": hash_data(ca.cert, ca.cert)}
        for kind, ca in [*installed.items(), ("CSMSRootCertificate", second_csms_root)]
    ]
    assert sorted(chains, key=str) == sorted(expected, key=str)
    only_v2g = await csms.call(
        STATION_ID, "GetInstalledCertificateIds", {"certificateType": ["V2GCertificateChain"]}
    )
    assert only_v2g["status"] == "NotFound"  # no ISO 15118 stack, no V2G certificate

    first = hash_data(authority.cert, authority.cert)
    deleted = await csms.call(STATION_ID, "DeleteCertificate", {"certificateHashData": first})
    assert deleted["status"] == "Accepted"
    last = hash_data(second_csms_root.cert, second_csms_root.cert)
    refused = await csms.call(STATION_ID, "DeleteCertificate", {"certificateHashData": last})
    assert refused["status"] == "Failed"
    again = await csms.call(STATION_ID, "DeleteCertificate", {"certificateHashData": first})
    assert again["status"] == "NotFound"
    entries = await get_variable(csms, "SecurityCtrlr", "CertificateEntries")
    assert entries["attributeValue"] == "4"


# --- A02, A05 ----------------------------------------------------------------------------


async def test_certificate_signed_then_profile_3_through_network_profile(
    csms: Csms201, station: Station201, authority: Authority
):
    secure(station, authority)
    station.set_ocpp("SecurityCtrlr", "CertSigningWaitMinimum", 1)
    station.set_ocpp("SecurityCtrlr", "OrganizationName", "Example CPO")
    await station.start()
    # without a client certificate profile 3 is impossible
    assert await csms.call(STATION_ID, "SetNetworkProfile", network_profile(csms.url, 1, 3)) == {
        "status": "Accepted"
    }
    early = await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")
    assert early["attributeStatus"] == "Rejected"

    mark = len(csms.ledger.entries)
    trigger = {"requestedMessage": "SignChargingStationCertificate"}
    assert (await csms.call(STATION_ID, "TriggerMessage", trigger))["status"] == "Accepted"
    first = await wait_call(csms, "SignCertificate", after=mark)
    assert first.payload["certificateType"] == "ChargingStationCertificate"
    csr = x509.load_pem_x509_csr(first.payload["csr"].encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STATION_ID
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"
    # no CertificateSigned within CertSigningWaitMinimum (1 s): the same CSR again
    again = await wait_call(csms, "SignCertificate", after=first.index + 1, timeout=5)
    assert again.payload["csr"] == first.payload["csr"]

    signed = authority.sign_csr(first.payload["csr"])
    answer = await csms.call(
        STATION_ID,
        "CertificateSigned",
        {"certificateChain": pem(signed), "certificateType": "ChargingStationCertificate"},
    )
    assert answer == {"status": "Accepted"}

    mark = len(csms.ledger.entries)
    result = await set_variable(csms, "OCPPCommCtrlr", "NetworkConfigurationPriority", "1,0")
    assert result["attributeStatus"] == "Accepted"
    await wait_until(lambda: connects_after(station, mark), "a connection on profile 3")
    handshake = csms.handshakes[STATION_ID]
    assert handshake.authorization is None
    assert handshake.client_cert is not None
    assert int(handshake.client_cert["serialNumber"], 16) == signed.serial_number
    profile = await get_variable(csms, "SecurityCtrlr", "SecurityProfile")
    assert profile["attributeValue"] == "3"
    # A05: never a slot below the active profile
    lower = await csms.call(STATION_ID, "SetNetworkProfile", network_profile(csms.url, 2, 2))
    assert lower["status"] == "Rejected"
    assert lower["statusInfo"]["reasonCode"] == "InvalidSecProfile"


async def test_wrong_certificate_refused(csms: Csms201, station: Station201, authority: Authority):
    secure(station, authority)
    await station.start()
    mark = len(csms.ledger.entries)
    trigger = {"requestedMessage": "SignChargingStationCertificate"}
    assert (await csms.call(STATION_ID, "TriggerMessage", trigger))["status"] == "Accepted"
    request = await wait_call(csms, "SignCertificate", after=mark)
    other_ca = Authority.make("Somebody else")
    foreign = other_ca.sign_csr(request.payload["csr"])  # right key, unknown issuer
    answer = await csms.call(STATION_ID, "CertificateSigned", {"certificateChain": pem(foreign)})
    assert answer["status"] == "Rejected"
    await wait_call(csms, "SecurityEventNotification", after=mark,
                    type="InvalidChargingStationCertificate")  # fmt: skip
    v2g = {"requestedMessage": "SignV2GCertificate"}
    assert (await csms.call(STATION_ID, "TriggerMessage", v2g))["status"] == "Rejected"


# --- A01 ---------------------------------------------------------------------------------


async def test_basic_auth_password_rotation(
    csms: Csms201, station: Station201, authority: Authority
):
    secure(station, authority)
    await station.start()
    for bad in ("too-short-pw", "has a space in it 12345", "x" * 41):
        result = await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", bad)
        assert result["attributeStatus"] == "Rejected", bad
    new = "Rotated*Pass_word=2:+|@."
    csms.password = new
    mark = len(csms.ledger.entries)
    handshakes = len([h for h in csms.handshake_log if h.station_id == STATION_ID])
    result = await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", new)
    assert result["attributeStatus"] == "Accepted"
    await wait_until(lambda: connects_after(station, mark), "a connection with the new password")
    assert basic_password(station, handshakes) == new
    readback = await get_variable(csms, "SecurityCtrlr", "BasicAuthPassword")
    assert readback["attributeStatus"] == "Rejected" and "attributeValue" not in readback

    refused = "Never-Known-Password-42"
    mark = len(csms.ledger.entries)
    result = await set_variable(csms, "SecurityCtrlr", "BasicAuthPassword", refused)
    assert result["attributeStatus"] == "Accepted"
    await wait_until(
        lambda: any(e.kind == "rejected" for e in csms.ledger.entries[mark:]),
        "the CSMS to refuse the new password",
    )
    await wait_until(lambda: connects_after(station, mark), "a connection with the old password")
    assert basic_password(station, -1) == new
    await station.stop()

    everything = logs_of(station)
    for secret in (PASSWORD, new, refused):
        assert secret not in everything, "a password reached a log"
