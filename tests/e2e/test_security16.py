"""OCPP 1.6 security extension end to end: the daemon against the dev CSMS serving TLS with a
throw-away CA made here (security profile 2 unless a test says otherwise).

Certificates installed, listed with hash data computed here from the definition, deleted
(never the last CSMS root); the station certificate signed through SignCertificate /
CertificateSigned and used for mutual TLS once SecurityProfile is raised to 3; the Basic
auth password rotated with AuthorizationKey, with the old one kept when the new one is
refused; no lower profile; no secret in the daemon's log or the frame log.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devcsms import Csms

from .conftest import STATION_ID, Station, wait_call, wait_until
from .pki import Authority, csms_tls, hash_data, pem

PASSWORD = "first-password-0001"


@pytest.fixture
def authority() -> Authority:
    return Authority.make("Test CSMS Root CA", serial=0x80F1_2233)  # top bit set


@pytest.fixture
async def csms(authority: Authority, tmp_path: Path):
    """The dev CSMS on wss://127.0.0.1 with a certificate of `authority`, Basic auth on."""
    tls_dir = tmp_path / "csms-tls"
    tls_dir.mkdir()
    server = Csms(close_timeout=0.5, password=PASSWORD, ssl=csms_tls(authority, tls_dir))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    violations = server.ledger.violations
    assert violations == [], "protocol violations of the station:\n" + "\n".join(violations)


def secure(station: Station, authority: Authority) -> None:
    """Security profile 2: the CA's root as csms.ca_file, the password."""
    ca_file = station.dir / "csms-root.pem"
    ca_file.write_text(authority.pem)
    station.password = PASSWORD
    station.overrides += ["csms.security_profile=2", f"csms.ca_file={ca_file}"]


def basic_password(station: Station, index: int) -> str | None:
    """The password of the `index`th handshake of the station (None without Basic auth)."""
    handshakes = [h for h in station.csms.handshake_log if h.station_id == STATION_ID]
    header = handshakes[index].authorization
    if header is None:
        return None
    user, _, password = base64.b64decode(header.split()[1]).decode().partition(":")
    assert user == STATION_ID
    return password


def connects_after(station: Station, mark: int) -> list:
    return [
        e for e in station.csms.ledger.entries[mark:]
        if e.kind == "connect" and e.station_id == STATION_ID
    ]  # fmt: skip


def logs_of(station: Station) -> str:
    """The daemon's stderr, its kept log and the frame log, all in one text."""
    texts = [station.log()]
    for name in ("chargerd.log", "ocpp-frames.log"):
        path = station.state_dir / name
        assert path.exists(), f"{name} is missing"
        texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


async def installed_ids(csms: Csms, kind: str = "CentralSystemRootCertificate") -> dict:
    return await csms.call(STATION_ID, "GetInstalledCertificateIds", {"certificateType": kind})


async def install(csms: Csms, certificate: str, kind: str = "CentralSystemRootCertificate") -> str:
    payload = {"certificateType": kind, "certificate": certificate}
    return (await csms.call(STATION_ID, "InstallCertificate", payload))["status"]


async def change(csms: Csms, key: str, value: str) -> str:
    answer = await csms.call(STATION_ID, "ChangeConfiguration", {"key": key, "value": value})
    return answer["status"]


# --- certificates ------------------------------------------------------------------------


async def test_install_list_delete_with_hash_data(
    csms: Csms, station: Station, authority: Authority
):
    secure(station, authority)
    await station.start()
    listed = await installed_ids(csms)
    # csms.ca_file counts as an installed CSMS root
    ours = hash_data(authority.cert, authority.cert)
    assert listed == {"status": "Accepted", "certificateHashData": [ours]}
    assert (await installed_ids(csms, "ManufacturerRootCertificate"))["status"] == "NotFound"
    other = Authority.make("Second CSMS Root")
    maker = Authority.make("Maker Root")
    assert await install(csms, other.pem) == "Accepted"
    assert await install(csms, maker.pem, "ManufacturerRootCertificate") == "Accepted"
    makers = await installed_ids(csms, "ManufacturerRootCertificate")
    assert makers["certificateHashData"] == [hash_data(maker.cert, maker.cert)]
    roots = await installed_ids(csms)
    assert sorted(h["serialNumber"] for h in roots["certificateHashData"]) == sorted(
        format(ca.cert.serial_number, "x") for ca in (authority, other)
    )

    # a leaf is no root: refused, so it cannot become an entry nobody can list or delete
    leaf = other.issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
    )
    assert await install(csms, pem(leaf)) == "Rejected"

    # the CSMS may name a certificate with upper-case hex and a serial with leading zeros
    shouted = {**ours, "issuerNameHash": ours["issuerNameHash"].upper(),
               "serialNumber": "00" + ours["serialNumber"]}  # fmt: skip
    deleted = await csms.call(STATION_ID, "DeleteCertificate", {"certificateHashData": shouted})
    assert deleted == {"status": "Accepted"}
    last = {"certificateHashData": hash_data(other.cert, other.cert)}
    assert await csms.call(STATION_ID, "DeleteCertificate", last) == {"status": "Failed"}
    assert await csms.call(STATION_ID, "DeleteCertificate", {"certificateHashData": ours}) == {
        "status": "NotFound"
    }
    roots = await installed_ids(csms)
    assert roots["certificateHashData"] == [hash_data(other.cert, other.cert)]
    await wait_until(
        lambda: any(
            e.payload["type"] == "ReconfigurationOfSecurityParameters"
            for e in csms.ledger.entries
            if e.kind == "call" and e.action == "SecurityEventNotification"
        ),
        "a ReconfigurationOfSecurityParameters security event",
    )


async def test_station_certificate_signed_and_used_on_profile_3(
    csms: Csms, station: Station, authority: Authority
):
    secure(station, authority)
    await station.start()
    assert await change(csms, "CpoName", "Example CPO") == "Accepted"
    # no client certificate yet: profile 3 is impossible
    assert await change(csms, "SecurityProfile", "3") == "Rejected"

    mark = len(csms.ledger.entries)
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    assert await csms.call(STATION_ID, "ExtendedTriggerMessage", trigger) == {"status": "Accepted"}
    request = await wait_call(csms, "SignCertificate", after=mark)
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STATION_ID
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"

    # a certificate for another key is refused, and the station says why
    stranger = authority.issue(csr.subject, ec.generate_private_key(ec.SECP256R1()).public_key())
    wrong = await csms.call(STATION_ID, "CertificateSigned", {"certificateChain": pem(stranger)})
    assert wrong == {"status": "Rejected"}
    await wait_call(csms, "SecurityEventNotification", after=mark,
                    type="InvalidChargePointCertificate")  # fmt: skip

    # valid for 10 days: within security.renew_days (30) of its expiry
    signed = authority.sign_csr(request.payload["csr"], days=10)
    answer = await csms.call(STATION_ID, "CertificateSigned", {"certificateChain": pem(signed)})
    assert answer == {"status": "Accepted"}

    mark = len(csms.ledger.entries)
    assert await change(csms, "SecurityProfile", "3") == "Accepted"
    await wait_until(lambda: connects_after(station, mark), "a connection on profile 3")
    handshake = csms.handshakes[STATION_ID]
    assert handshake.authorization is None  # profile 3: no password
    assert handshake.client_cert is not None
    subject = dict(item[0] for item in handshake.client_cert["subject"])
    assert subject["commonName"] == STATION_ID
    assert int(handshake.client_cert["serialNumber"], 16) == signed.serial_number
    status = await station.status()
    assert status["security"]["profile"] == 3
    # and never down again
    assert await change(csms, "SecurityProfile", "2") == "Rejected"

    # A03: the station asks for a new certificate itself when its own expires soon
    mark = await station.restart()
    renewal = await wait_call(csms, "SignCertificate", after=mark)
    assert renewal.payload["csr"] != request.payload["csr"]  # a new key pair
    assert csms.handshakes[STATION_ID].authorization is None  # still profile 3


# --- credentials -------------------------------------------------------------------------


async def test_authorization_key_rotates_the_password(
    csms: Csms, station: Station, authority: Authority
):
    secure(station, authority)
    await station.start()
    new = "rotated-password-02"
    assert await change(csms, "AuthorizationKey", "abc") == "Rejected"  # not 32-40 hex digits
    assert await change(csms, "AuthorizationKey", "zz" * 16) == "Rejected"
    csms.password = new  # the CSMS expects the new one from the next connection on
    mark = len(csms.ledger.entries)
    handshakes = len([h for h in csms.handshake_log if h.station_id == STATION_ID])
    assert await change(csms, "AuthorizationKey", new.encode().hex()) == "Accepted"
    await wait_until(lambda: connects_after(station, mark), "a connection with the new password")
    assert basic_password(station, handshakes) == new  # the decoded bytes, not the hex

    # write-only: listed without a value
    got = await csms.call(STATION_ID, "GetConfiguration", {"key": ["AuthorizationKey"]})
    assert got["configurationKey"] == [{"key": "AuthorizationKey", "readonly": False}]

    # a new password the CSMS does not know: refused once, the station goes back to the old
    refused = "never-known-password"
    mark = len(csms.ledger.entries)
    assert await change(csms, "AuthorizationKey", refused.encode().hex()) == "Accepted"
    await wait_until(
        lambda: any(e.kind == "rejected" for e in csms.ledger.entries[mark:]),
        "the CSMS to refuse the new password",
    )
    await wait_until(lambda: connects_after(station, mark), "a connection with the old password")
    assert basic_password(station, -1) == new
    await station.stop()

    everything = logs_of(station)
    for secret in (PASSWORD, new, refused, new.encode().hex(), refused.encode().hex()):
        assert secret not in everything, "a password reached a log"


async def test_security_profile_never_goes_down(csms: Csms, station: Station, authority: Authority):
    secure(station, authority)
    await station.start()
    assert await change(csms, "SecurityProfile", "1") == "Rejected"
    assert await change(csms, "SecurityProfile", "0") == "Rejected"
    assert await change(csms, "SecurityProfile", "2") == "Accepted"  # unchanged
    got = await csms.call(STATION_ID, "GetConfiguration", {"key": ["SecurityProfile"]})
    assert got["configurationKey"] == [{"key": "SecurityProfile", "readonly": False, "value": "2"}]


async def test_extended_trigger_message(csms: Csms, station: Station, authority: Authority):
    secure(station, authority)
    await station.start()
    mark = len(csms.ledger.entries)
    for message, sent in (
        ("Heartbeat", "Heartbeat"),
        ("LogStatusNotification", "LogStatusNotification"),
        ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
    ):
        answer = await csms.call(
            STATION_ID, "ExtendedTriggerMessage", {"requestedMessage": message}
        )
        assert answer == {"status": "Accepted"}
        await wait_call(csms, sent, after=mark)
    status = {"requestedMessage": "StatusNotification", "connectorId": 2}
    assert await csms.call(STATION_ID, "ExtendedTriggerMessage", status) == {"status": "Accepted"}
    await wait_call(csms, "StatusNotification", after=mark, connectorId=2)
    unknown = {"requestedMessage": "MeterValues", "connectorId": 7}
    assert await csms.call(STATION_ID, "ExtendedTriggerMessage", unknown) == {"status": "Rejected"}
