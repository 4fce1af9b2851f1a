"""OCPP 1.6 Firmware Management and the security extension's signed update, through the real
daemon with `installer: sim` against local HTTP and FTP servers."""

from __future__ import annotations

import time
from pathlib import Path

from devcsms import Csms
from tests.updates.maker import make_maker
from tests.updates.servers import Site, ftp_server, http_server

from .conftest import STATION_ID, Station, calls, wait_call
from .firmware_rig import (
    hanging_url,
    image,
    iso,
    offered,
    statuses,
    until_final,
    update16,
    with_firmware,
)


def signed(location: str, maker, fw: Path, request_id: int = 3) -> dict:
    return {
        "requestId": request_id, "retries": 1, "retryInterval": 1,
        "firmware": {
            "location": location, "retrieveDateTime": iso(time.time()),
            "signingCertificate": maker.signer_pem, "signature": maker.sign(fw),
        },
    }  # fmt: skip


async def test_the_profile_and_its_protocols_are_announced(csms: Csms, station: Station):
    await station.start()
    answer = await csms.call(STATION_ID, "GetConfiguration", {
        "key": ["SupportedFeatureProfiles", "SupportedFileTransferProtocols"],
    })  # fmt: skip
    values = {k["key"]: k["value"] for k in answer["configurationKey"]}
    assert "FirmwareManagement" in values["SupportedFeatureProfiles"].split(",")
    assert values["SupportedFileTransferProtocols"] == "FTP,FTPS,HTTP,HTTPS"


async def test_update_firmware_installs_and_reports_installed_after_the_boot(
    csms: Csms, station: Station, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-2.7.1.bin") as fw:
        mark = fw.mark
        answer = await csms.call(STATION_ID, "UpdateFirmware",
                                 update16(fw.location(), at=time.time() - 60))  # past: now
        assert answer == {}
        sent = await until_final(csms, mark)
    assert sent == ["Downloading", "Downloaded", "Installing", "Installed"]
    boot = await wait_call(csms, "BootNotification", after=mark)
    assert boot.payload["firmwareVersion"] == "2.7.1"
    installed = calls(csms, "FirmwareStatusNotification", mark)[-1]
    assert installed.index > boot.index
    assert not calls(csms, "SignedFirmwareStatusNotification", mark)
    # nothing going on any more: a trigger says Idle
    mark = len(csms.ledger.entries)
    answer = await csms.call(STATION_ID, "TriggerMessage",
                             {"requestedMessage": "FirmwareStatusNotification"})  # fmt: skip
    assert answer["status"] == "Accepted"
    await wait_call(csms, "FirmwareStatusNotification", after=mark, status="Idle")


async def test_a_missing_image_ends_download_failed_after_the_retries(
    csms: Csms, station: Station
):
    with_firmware(station)
    site = Site()
    with http_server(site) as port:
        await station.start()
        mark = len(csms.ledger.entries)
        await csms.call(STATION_ID, "UpdateFirmware", update16(
            site.url(port, "/chargerd-fw-9.bin"), retries=3, retryInterval=1))
        sent = await until_final(csms, mark)
    assert sent == ["Downloading", "DownloadFailed"]
    assert len([r for r in site.requests if r[0] == "GET"]) == 3


async def test_a_download_cut_off_midway_says_downloading_once_and_resumes(
    csms: Csms, station: Station, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-2.9.bin", drop_after=100_000) as fw:
        await csms.call(STATION_ID, "UpdateFirmware",
                        update16(fw.location(), retries=2, retryInterval=1))  # fmt: skip
        sent = await until_final(csms, fw.mark)
    assert sent == ["Downloading", "Downloaded", "Installing", "Installed"]  # no pause in 1.6
    gets = fw.gets()
    assert len(gets) == 2 and gets[1][2] == "bytes=100000-"


async def test_a_signed_update_reports_the_pause_of_a_download_cut_off(
    csms: Csms, station: Station, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-3.4.bin", drop_after=100_000) as fw:
        payload = signed(fw.location(), fw.maker, fw.image)
        payload["retries"] = 2
        await csms.call(STATION_ID, "SignedUpdateFirmware", payload)
        sent = await until_final(csms, fw.mark, "SignedFirmwareStatusNotification")
    assert sent == ["Downloading", "DownloadPaused", "Downloading", "Downloaded",
                    "SignatureVerified", "Installing", "InstallRebooting", "Installed"]  # fmt: skip


async def test_an_image_whose_new_slot_fails_rolls_back_installation_failed(
    csms: Csms, station: Station, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-rollback-9.9.bin") as fw:
        mark = fw.mark
        await csms.call(STATION_ID, "UpdateFirmware", update16(fw.location()))
        sent = await until_final(csms, mark)
    # (2.0.1 and the signed update say InstallVerificationFailed; plain 1.6 has no such word)
    assert sent == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    boot = await wait_call(csms, "BootNotification", after=mark)
    assert boot.payload["firmwareVersion"] != "9.9"  # the old version came back
    assert calls(csms, "FirmwareStatusNotification", mark)[-1].index > boot.index


async def test_signed_update_over_ftp_reports_every_status_with_its_request_id(
    csms: Csms, station: Station, tmp_path: Path
):
    maker = with_firmware(station)
    root = tmp_path / "ftp"
    root.mkdir()
    fw = image(root, "chargerd-fw-3.1.bin")
    with ftp_server(root, password="ftp-secret") as port:
        await station.start()
        mark = len(csms.ledger.entries)
        location = f"ftp://tech:ftp-secret@127.0.0.1:{port}/chargerd-fw-3.1.bin"
        answer = await csms.call(STATION_ID, "SignedUpdateFirmware", signed(location, maker, fw))
        assert answer["status"] == "Accepted"
        sent = await until_final(csms, mark, "SignedFirmwareStatusNotification")
    assert sent == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                    "InstallRebooting", "Installed"]  # fmt: skip
    entries = calls(csms, "SignedFirmwareStatusNotification", mark)
    assert {e.payload["requestId"] for e in entries} == {3}
    boot = await wait_call(csms, "BootNotification", after=mark)
    assert boot.payload["firmwareVersion"] == "3.1"
    assert "ftp-secret" not in station.log()


async def test_signed_update_with_a_foreign_certificate_is_invalid(
    csms: Csms, station: Station, tmp_path: Path
):
    stranger = make_maker("Stranger")
    async with offered(csms, station, tmp_path, "chargerd-fw-3.2.bin") as fw:
        answer = await csms.call(STATION_ID, "SignedUpdateFirmware",
                                 signed(fw.location(), stranger, fw.image))  # fmt: skip
        assert answer["status"] == "InvalidCertificate"
        await wait_call(csms, "SecurityEventNotification", after=fw.mark,
                        type="InvalidFirmwareSigningCertificate")  # fmt: skip
    assert not fw.site.requests  # nothing downloaded


async def test_signed_update_with_a_bad_signature_installs_nothing(
    csms: Csms, station: Station, tmp_path: Path
):
    tampered = image(tmp_path, "tampered.bin")
    async with offered(csms, station, tmp_path, "chargerd-fw-3.3.bin") as fw:
        payload = signed(fw.location(), fw.maker, fw.image)
        payload["firmware"]["signature"] = fw.maker.sign(tampered)
        await csms.call(STATION_ID, "SignedUpdateFirmware", payload)
        sent = await until_final(csms, fw.mark, "SignedFirmwareStatusNotification")
    assert sent == ["Downloading", "Downloaded", "InvalidSignature"]
    await wait_call(csms, "SecurityEventNotification", after=fw.mark,
                    type="InvalidFirmwareSignature")  # fmt: skip
    assert csms.ledger.boot_count[STATION_ID] == 1


async def test_a_get_diagnostics_during_an_upload_ends_it_upload_failed_then_does_its_own(
    csms: Csms, station: Station
):
    """1.6 has no word for a cancelled upload: each upload still reads Uploading, then
    Uploaded or UploadFailed, and Idle comes only on a trigger."""
    site = Site()
    with hanging_url() as hanging, http_server(site) as port:  # the first upload hangs
        await station.start()
        mark = len(csms.ledger.entries)
        first = await csms.call(STATION_ID, "GetDiagnostics", {"location": hanging})
        await wait_call(csms, "DiagnosticsStatusNotification", after=mark, status="Uploading")
        second = await csms.call(STATION_ID, "GetDiagnostics",
                                 {"location": site.url(port, "/diag/")})  # fmt: skip
        await wait_call(csms, "DiagnosticsStatusNotification", after=mark, status="Uploaded")
    assert statuses(csms, mark, "DiagnosticsStatusNotification") == [
        "Uploading", "UploadFailed", "Uploading", "Uploaded"]  # fmt: skip
    assert first["fileName"].endswith(".tar.gz")
    assert f"/diag/{second['fileName']}" in site.uploads
    mark = len(csms.ledger.entries)
    await csms.call(STATION_ID, "TriggerMessage",
                    {"requestedMessage": "DiagnosticsStatusNotification"})  # fmt: skip
    await wait_call(csms, "DiagnosticsStatusNotification", after=mark, status="Idle")
