"""OCPP 2.0.1 firmware updates (L01-L04) through the real daemon with `installer: sim`,
against local HTTP servers: every status in order with its requestId, the new version in the
BootNotification after the in-process restart, and what goes wrong."""

from __future__ import annotations

import time
from pathlib import Path

from devcsms import Csms201
from tests.updates.maker import make_maker
from tests.updates.servers import Site, http_server

from .conftest import STATION_ID, calls, wait_call, wait_until
from .conftest201 import Station201, csms, station
from .firmware_rig import hanging_url, image, iso, offered, statuses, until_final, with_firmware

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


def update(location: str, request_id: int = 1, **firmware) -> dict:
    return {
        "requestId": request_id, "retries": 2, "retryInterval": 1,
        "firmware": {"location": location, "retrieveDateTime": iso(time.time()), **firmware},
    }  # fmt: skip


async def test_a_signed_image_is_installed_and_the_station_boots_with_it(
    csms: Csms201, station: Station201, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-2.7.1.bin") as fw:
        mark = fw.mark
        answer = await csms.call(STATION_ID, "UpdateFirmware", update(
            fw.location(),
            signingCertificate=fw.maker.signer_pem, signature=fw.maker.sign(fw.image),
        ))  # fmt: skip
        assert answer["status"] == "Accepted"
        sent = await until_final(csms, mark)
    assert sent == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                        "InstallRebooting", "Installed"]  # fmt: skip
    assert all(e.payload["requestId"] == 1 for e in calls(csms, "FirmwareStatusNotification", mark))
    boot = await wait_call(csms, "BootNotification", after=mark)
    assert boot.payload["reason"] == "FirmwareUpdate"
    assert boot.payload["chargingStation"]["firmwareVersion"] == "2.7.1"
    installed = next(e for e in calls(csms, "FirmwareStatusNotification", mark)
                     if e.payload["status"] == "Installed")  # fmt: skip
    assert installed.index > boot.index  # after the new image's boot
    await wait_call(csms, "SecurityEventNotification", after=mark, type="FirmwareUpdated")
    # Installed once: a later start sends nothing more, and a trigger says Idle
    again = await station.restart()
    await wait_call(csms, "BootNotification", after=again)
    answer = await csms.call(STATION_ID, "TriggerMessage",
                             {"requestedMessage": "FirmwareStatusNotification"})  # fmt: skip
    assert answer["status"] == "Accepted"
    await wait_call(csms, "FirmwareStatusNotification", after=again, status="Idle")
    assert statuses(csms, again) == ["Idle"]


async def test_a_bad_signature_installs_nothing(csms: Csms201, station: Station201, tmp_path):
    other = image(tmp_path, "other.bin")
    async with offered(csms, station, tmp_path, "chargerd-fw-3.0.bin") as fw:
        mark = fw.mark
        await csms.call(STATION_ID, "UpdateFirmware", update(
            fw.location(), signingCertificate=fw.maker.signer_pem, signature=fw.maker.sign(other),
        ))  # fmt: skip
        sent = await until_final(csms, mark)
    assert sent == ["Downloading", "Downloaded", "InvalidSignature"]
    await wait_call(csms, "SecurityEventNotification", after=mark, type="InvalidFirmwareSignature")
    assert (await station.status())["link"]["state"] == "connected"
    assert csms.ledger.boot_count[STATION_ID] == 1  # no restart, nothing installed


async def test_a_certificate_of_another_maker_is_refused_before_downloading(
    csms: Csms201, station: Station201, tmp_path
):
    stranger = make_maker("Stranger")
    async with offered(csms, station, tmp_path, "chargerd-fw-3.0.bin") as fw:
        answer = await csms.call(STATION_ID, "UpdateFirmware", update(
            fw.location(),
            signingCertificate=stranger.signer_pem, signature=stranger.sign(fw.image),
        ))  # fmt: skip
        assert answer["status"] == "InvalidCertificate"
        assert answer["statusInfo"]["reasonCode"] == "InvalidCertificate"
        await wait_call(csms, "SecurityEventNotification", after=fw.mark,
                        type="InvalidFirmwareSigningCertificate")  # fmt: skip
    assert not fw.gets()  # nothing downloaded


async def test_a_missing_image_fails_after_the_attempts(csms: Csms201, station: Station201):
    with_firmware(station)
    site = Site()
    with http_server(site) as port:
        await station.start()
        mark = len(csms.ledger.entries)
        await csms.call(STATION_ID, "UpdateFirmware", update(site.url(port, "/nothing-1.0.bin")))
        sent = await until_final(csms, mark)
    assert sent[0] == "Downloading" and sent[-1] == "DownloadFailed"
    assert [r[1] for r in site.requests if r[0] == "GET"] == ["/nothing-1.0.bin"] * 2  # retries


async def test_a_download_cut_off_midway_is_paused_then_resumed(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-2.8.bin", drop_after=100_000) as fw:
        await csms.call(STATION_ID, "UpdateFirmware", update(fw.location()))
        sent = await until_final(csms, fw.mark)
    assert sent == ["Downloading", "DownloadPaused", "Downloading", "Downloaded",
                    "Installing", "InstallRebooting", "Installed"]  # L02: unsigned
    gets = fw.gets()
    assert len(gets) == 2 and gets[1][2] == "bytes=100000-"  # the rest, not the whole again
    boot = await wait_call(csms, "BootNotification", after=fw.mark)
    assert boot.payload["chargingStation"]["firmwareVersion"] == "2.8"


async def test_a_paused_download_goes_on_after_a_restart(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-2.9.bin", drop_after=120_000) as fw:
        payload = update(fw.location(), request_id=9)
        payload["retryInterval"] = 4  # the restart comes within the pause
        await csms.call(STATION_ID, "UpdateFirmware", payload)
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark, status="DownloadPaused",
                        requestId=9)  # fmt: skip
        await station.restart()
        sent = await until_final(csms, fw.mark)
    assert sent == ["Downloading", "DownloadPaused", "Downloading", "Downloaded",
                    "Installing", "InstallRebooting", "Installed"]  # fmt: skip
    gets = fw.gets()
    assert len(gets) == 2 and gets[1][2] == "bytes=120000-"  # the partial file survived


async def test_a_later_retrieve_date_is_kept_across_a_restart(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-4.0.bin") as fw:
        payload = update(fw.location(), request_id=5)
        payload["firmware"]["retrieveDateTime"] = iso(time.time() + 6)
        await csms.call(STATION_ID, "UpdateFirmware", payload)
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark,
                        status="DownloadScheduled", requestId=5)  # fmt: skip
        await station.restart()
        assert not fw.gets()  # not before its time
        sent = await until_final(csms, fw.mark)
    assert sent[0] == "DownloadScheduled" and sent[-1] == "Installed"
    assert statuses(csms, fw.mark, request_id=5) == sent


async def test_an_update_during_a_session_waits_for_its_end(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-5.0.bin") as fw:
        await station.start_session(1)
        await csms.call(STATION_ID, "UpdateFirmware", update(fw.location()))
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark,
                        status="InstallScheduled")  # fmt: skip
        await station.wait_status(2, "Unavailable")  # the free one: no new session there
        assert (await station.connector(1))["status"] == "Charging"
        assert "Installing" not in statuses(csms, fw.mark)
        await station.sim("unplug", "1")  # the session ends
        sent = await until_final(csms, fw.mark)
    assert sent[-3:] == ["Installing", "InstallRebooting", "Installed"]
    await station.wait_status(1, "Available")  # the temporary Unavailable is not kept
    await station.wait_status(2, "Available")


async def test_kill_while_installing_ends_with_a_status_after_the_restart(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-6.0.bin") as fw:
        await csms.call(STATION_ID, "UpdateFirmware", update(fw.location()))
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark, status="Installing",
                        answered=False)  # fmt: skip
        station.kill()
        await station.start()
        sent = await until_final(csms, fw.mark)
    assert sent[-1] in ("Installed", "InstallationFailed")
    assert sent.count(sent[-1]) == 1


async def test_an_image_that_rolls_back_after_the_restart_is_install_verification_failed(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-rollback-9.9.bin") as fw:
        mark = fw.mark
        await csms.call(STATION_ID, "UpdateFirmware", update(fw.location(), request_id=61))
        sent = await until_final(csms, mark)
    assert sent == ["Downloading", "Downloaded", "Installing", "InstallRebooting",
                        "InstallVerificationFailed"]  # fmt: skip
    boot = await wait_call(csms, "BootNotification", after=mark)
    old = boot.payload["chargingStation"]["firmwareVersion"]
    assert old != "9.9"  # the old version runs on
    failed = calls(csms, "FirmwareStatusNotification", mark)[-1]
    assert failed.index > boot.index and failed.payload["requestId"] == 61
    events = [e.payload["type"] for e in calls(csms, "SecurityEventNotification", mark)]
    assert "FirmwareUpdated" not in events
    last = (await station.status())["firmware"]["last"][0]
    assert last["status"] == "InstallVerificationFailed"
    assert last["detail"] == f"{old} runs after the restart, not 9.9"  # for the technician
    await station.wait_status(1, "Available")
    await station.wait_status(2, "Available")


async def test_an_image_the_installer_refuses_is_install_verification_failed_without_restart(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-corrupt-9.8.bin") as fw:
        await csms.call(STATION_ID, "UpdateFirmware", update(fw.location(), request_id=62))
        sent = await until_final(csms, fw.mark)
    assert sent == ["Downloading", "Downloaded", "Installing", "InstallVerificationFailed"]
    assert csms.ledger.boot_count[STATION_ID] == 1  # no restart: the old version runs on
    await station.wait_status(1, "Available")  # held for the installation, given back
    await station.wait_status(2, "Available")
    firmware = (await station.status())["firmware"]
    assert firmware["update"] is None
    assert firmware["last"][0]["status"] == "InstallVerificationFailed"


ALLOW_NEW_SESSIONS = {"component": {"name": "ChargingStation"},
                      "variable": {"name": "AllowNewSessionsPendingFirmwareUpdate"}}  # fmt: skip


async def test_allow_new_sessions_pending_firmware_update_is_reported_and_settable(
    csms: Csms201, station: Station201
):
    await station.start()
    answer = await csms.call(STATION_ID, "GetBaseReport",
                             {"requestId": 71, "reportBase": "ConfigurationInventory"})  # fmt: skip
    assert answer == {"status": "Accepted"}
    await wait_until(lambda: csms.ledger.reports.get(71, [{"tbc": True}])[-1].get("tbc") is False,
                     "the last NotifyReport page")  # fmt: skip
    reported = [d for d in csms.ledger.report(71)
                if (d["component"]["name"], d["variable"]["name"])
                == ("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")]  # fmt: skip
    assert len(reported) == 1
    attribute = reported[0]["variableAttribute"][0]
    assert (attribute["value"], attribute["mutability"]) == ("false", "ReadWrite")
    assert reported[0]["variableCharacteristics"]["dataType"] == "boolean"
    answer = await csms.call(STATION_ID, "SetVariables", {"setVariableData": [
        {**ALLOW_NEW_SESSIONS, "attributeValue": "true"}]})  # fmt: skip
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    answer = await csms.call(STATION_ID, "GetVariables", {"getVariableData": [ALLOW_NEW_SESSIONS]})
    assert answer["getVariableResult"][0]["attributeValue"] == "true"
    again = await station.restart()  # persisted
    await wait_call(csms, "BootNotification", after=again)
    answer = await csms.call(STATION_ID, "GetVariables", {"getVariableData": [ALLOW_NEW_SESSIONS]})
    assert answer["getVariableResult"][0]["attributeValue"] == "true"


async def test_allowing_new_sessions_the_installation_waits_for_a_moment_without_any(
    csms: Csms201, station: Station201, tmp_path
):
    station.set_ocpp("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", True)
    async with offered(csms, station, tmp_path, "chargerd-fw-5.1.bin") as fw:
        await station.start_session(1)
        await csms.call(STATION_ID, "UpdateFirmware", update(fw.location()))
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark,
                        status="InstallScheduled")  # fmt: skip
        await station.start_session(2, tag="TAG2")  # a new session while the update waits
        await station.sim("unplug", "1")
        await station.wait_status(1, "Available")  # free again, not held Unavailable
        assert statuses(csms, fw.mark)[-1] == "InstallScheduled"  # session 2 runs
        assert (await station.connector(2))["status"] == "Charging"
        await station.sim("unplug", "2")
        sent = await until_final(csms, fw.mark)
    assert sent == ["Downloading", "Downloaded", "InstallScheduled", "Installing",
                        "InstallRebooting", "Installed"]  # fmt: skip
    await station.wait_status(1, "Available")
    await station.wait_status(2, "Available")


# --- N01 GetLog ------------------------------------------------------------------------------


def get_log(location: str, request_id: int, log_type: str = "DiagnosticsLog") -> dict:
    return {"logType": log_type, "requestId": request_id, "retries": 1,
            "log": {"remoteLocation": location}}  # fmt: skip


async def test_get_log_uploads_the_bundle_and_reports_with_the_request_id(
    csms: Csms201, station: Station201
):
    site = Site()
    with http_server(site) as port:
        await station.start()
        mark = len(csms.ledger.entries)
        answer = await csms.call(STATION_ID, "GetLog", get_log(site.url(port, "/logs/"), 21))
        assert answer["status"] == "Accepted"
        await wait_call(csms, "LogStatusNotification", after=mark, status="Uploaded", requestId=21)
    sent = [(e.payload["status"], e.payload["requestId"])
            for e in calls(csms, "LogStatusNotification", mark)]  # fmt: skip
    assert sent == [("Uploading", 21), ("Uploaded", 21)]
    assert f"/logs/{answer['filename']}" in site.uploads


async def test_a_get_log_during_an_upload_cancels_it(csms: Csms201, station: Station201):
    site = Site()
    with hanging_url() as hanging, http_server(site) as port:  # the first upload hangs
        await station.start()
        mark = len(csms.ledger.entries)
        assert (await csms.call(STATION_ID, "GetLog", get_log(hanging, 31)))["status"] == "Accepted"
        await wait_call(csms, "LogStatusNotification", after=mark, status="Uploading", requestId=31)
        trigger = {"requestedMessage": "LogStatusNotification"}
        assert (await csms.call(STATION_ID, "TriggerMessage", trigger))["status"] == "Accepted"
        await wait_until(lambda: len(calls(csms, "LogStatusNotification", mark)) == 2,
                         "the triggered LogStatusNotification")  # fmt: skip
        answer = await csms.call(STATION_ID, "GetLog", get_log(site.url(port, "/"), 32))
        assert answer["status"] == "AcceptedCanceled"
        await wait_call(csms, "LogStatusNotification", after=mark, status="Uploaded", requestId=32)
    sent = [(e.payload["status"], e.payload["requestId"])
            for e in calls(csms, "LogStatusNotification", mark)]  # fmt: skip
    assert sent == [("Uploading", 31), ("Uploading", 31), ("AcceptedCanceled", 31),
                    ("Uploading", 32), ("Uploaded", 32)]  # fmt: skip


async def test_the_file_transfer_protocols_are_reported(csms: Csms201, station: Station201):
    await station.start()
    answer = await csms.call(STATION_ID, "GetVariables", {"getVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "FileTransferProtocols"},
    }]})  # fmt: skip
    result = answer["getVariableResult"][0]
    assert result["attributeStatus"] == "Accepted"
    assert result["attributeValue"] == "FTP,FTPS,HTTP,HTTPS"


async def test_a_new_update_cancels_a_waiting_one(csms: Csms201, station: Station201, tmp_path):
    async with offered(csms, station, tmp_path, "chargerd-fw-7.0.bin") as fw:
        later = update(fw.location(), request_id=41)
        later["firmware"]["retrieveDateTime"] = iso(time.time() + 3600)
        assert (await csms.call(STATION_ID, "UpdateFirmware", later))["status"] == "Accepted"
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark,
                        status="DownloadScheduled", requestId=41)  # fmt: skip
        now = update(fw.location(), request_id=42)
        assert (await csms.call(STATION_ID, "UpdateFirmware", now))["status"] == "AcceptedCanceled"
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark, status="Installed",
                        requestId=42, timeout=20)  # fmt: skip
    assert "Downloading" not in statuses(csms, fw.mark, request_id=41)


async def test_an_install_date_holds_the_installation_until_then(
    csms: Csms201, station: Station201, tmp_path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-8.0.bin") as fw:
        install_at = time.time() + 4
        payload = update(fw.location(), request_id=51)
        payload["firmware"]["installDateTime"] = iso(install_at)
        await csms.call(STATION_ID, "UpdateFirmware", payload)
        await wait_call(csms, "FirmwareStatusNotification", after=fw.mark,
                        status="InstallScheduled", requestId=51)  # fmt: skip
        installing = await wait_call(csms, "FirmwareStatusNotification", after=fw.mark,
                                     status="Installing", timeout=20)  # fmt: skip
        sent = await until_final(csms, fw.mark)
    assert installing.time >= install_at - 1  # not before the date (to the second)
    assert sent[-1] == "Installed"
