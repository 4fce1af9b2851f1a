"""The firmware part through the real daemon (OCPP 1.6, `installer: sim`): what `chargerctl
firmware` shows, and connectors held for an installation never staying Unavailable — also
when the daemon is killed while it waits for a session to end."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from chargerd.ctl import request
from devcsms import Csms
from tests.e2e.conftest import STATION_ID, Station, csms, station, wait_until
from tests.e2e.firmware_rig import image, offered, statuses, update16, with_firmware
from tests.updates.servers import Site, http_server

__all__ = ["csms", "station"]  # the 1.6 end-to-end fixtures


async def firmware(st: Station) -> dict[str, Any]:
    answer = await asyncio.to_thread(
        request, str(st.socket), {"cmd": "firmware", "args": ["--json"]}, 5
    )
    assert answer.get("ok"), answer
    return json.loads(answer["message"])


async def test_chargerctl_firmware_shows_the_version_and_results_without_credentials(
    csms: Csms, station: Station, tmp_path: Path
):
    with_firmware(station)
    fw = image(tmp_path, "chargerd-fw-3.1.0.bin")
    site = Site(files={"/fw/chargerd-fw-3.1.0.bin": fw.read_bytes()}, password=("maker", "S3cr3t"))
    with http_server(site) as port:
        await station.start()
        before = await firmware(station)
        assert before["version"] == "0.1.0" and before["update"] is None  # the factory's
        mark = len(csms.ledger.entries)
        await csms.call(STATION_ID, "UpdateFirmware", update16(
            f"http://maker:S3cr3t@127.0.0.1:{port}/fw/chargerd-fw-3.1.0.bin?t=Tok3n"))
        await wait_until(lambda: "Installed" in statuses(csms, mark), "Installed", 20)
    after = await firmware(station)
    assert after["version"] == "3.1.0"
    assert after["update"] is None
    last = after["last"][0]
    assert last["status"] == "Installed" and last["version"] == "3.1.0"
    assert last["location"] == f"http://127.0.0.1:{port}/fw/chargerd-fw-3.1.0.bin"
    assert "S3cr3t" not in station.log()
    ours = [line for line in station.log().splitlines() if "chargerd.updates" in line]
    for text in [json.dumps(after), *ours]:
        assert "S3cr3t" not in text and "Tok3n" not in text


async def test_connectors_held_for_an_installation_come_back_after_a_kill(
    csms: Csms, station: Station, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-4.0.bin") as fw:
        await station.start_session(1)
        mark = len(csms.ledger.entries)
        await csms.call(STATION_ID, "UpdateFirmware", update16(fw.location()))
        # downloaded, waiting for the session: the free connector is held, the busy one charges
        await station.wait_status(2, "Unavailable")
        assert (await station.connector(1))["status"] == "Charging"
        assert (await firmware(station))["update"]["status"] == "InstallScheduled"
        assert statuses(csms, mark) == ["Downloading", "Downloaded"]
        station.kill()
        await station.start(wait=False)
        # the session ended with the power loss: the installation goes on and the station
        # comes back with the new version, every connector in service
        await wait_until(lambda: "Installed" in statuses(csms, mark), "Installed", 60)  # two starts
    await station.wait_status(1, "Available")
    await station.wait_status(2, "Available")
    assert statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", "Installed"]
    await station.restart()
    await station.wait_status(2, "Available")  # the temporary Unavailable was never kept
    assert (await firmware(station))["version"] == "4.0"


async def test_chargerctl_firmware_shows_a_paused_download_and_its_next_attempt(
    csms: Csms, station: Station, tmp_path: Path
):
    async with offered(csms, station, tmp_path, "chargerd-fw-4.1.bin", drop_after=50_000) as fw:
        mark = fw.mark
        asked = time.time()
        await csms.call(STATION_ID, "UpdateFirmware",
                        update16(fw.location(), at=asked, retries=2, retryInterval=3))
        paused: dict[str, Any] = {}

        async def is_paused() -> bool:
            paused.update((await firmware(station))["update"] or {})
            return paused.get("status") == "DownloadPaused"

        deadline = time.monotonic() + 10
        while not await is_paused():
            assert time.monotonic() < deadline, f"not paused in chargerctl firmware: {paused}"
            await asyncio.sleep(0.05)
        assert paused["attempt"] == 1 and paused["attempts"] == 2
        assert asked + 3 <= paused["retry_at"] <= time.time() + 3
        assert paused["detail"]  # why the transfer broke off
        await wait_until(lambda: "Installed" in statuses(csms, mark), "Installed", 20)
    assert statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert (await firmware(station))["version"] == "4.1"
