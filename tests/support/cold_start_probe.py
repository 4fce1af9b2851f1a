"""Which modules of the feature blocks a daemon has imported, at its start and after the
CSMS's requests. Run as a fresh process, so that sys.modules holds only what this daemon
imported (tests/e2e/test_cold_start.py):

    python tests/support/cold_start_probe.py 1.6|2.0.1 DIR

The daemon runs in this process, as tests/e2e/test_smart_station.py runs it, first with
no CSMS to reach (the start), then against the dev CSMS on 127.0.0.1. Prints one JSON
object: the watched modules imported at each step, and the answers to the requests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chargerd.config import load_config  # noqa: E402
from chargerd.daemon import Daemon  # noqa: E402
from devcsms import Csms, Csms201  # noqa: E402
from hal.registry import build_hardware  # noqa: E402

STATION_ID = "CP-COLD"
WAIT_S = 10.0
WATCHED = {
    "1.6": (
        "chargerd.ocpp16.smart", "chargerd.ocpp16.cost", "chargerd.ocpp16.firmware",
        "chargerd.ocpp16.security", "chargerd.smart.part", "chargerd.display.part",
    ),
    "2.0.1": (
        "chargerd.ocpp201.smart", "chargerd.ocpp201.customer", "chargerd.ocpp201.firmware",
        "chargerd.ocpp201.security", "chargerd.smart.part", "chargerd.monitoring.part",
        "chargerd.ocpp201.display", "chargerd.display.messages", "chargerd.ocpp201.monitoring",
        "chargerd.monitoring.monitors",
    ),
}  # fmt: skip
# one request of a block that attaches to no part: its module comes with it
REQUESTS = {
    "1.6": [
        ("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}}),
        ("DataTransfer", {"vendorId": "org.openchargealliance.costmsg",
                          "messageId": "SetUserPrice",
                          "data": json.dumps({"idToken": "TAG1", "priceText": "0.30/kWh"})}),
    ],
    "2.0.1": [
        ("CustomerInformation", {"requestId": 1, "report": True, "clear": False,
                                 "customerIdentifier": "someone"}),
    ],
}  # fmt: skip


def imported(version: str) -> list[str]:
    return sorted(m for m in WATCHED[version] if m in sys.modules)


async def until(done: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


def station_yaml(directory: Path, version: str, url: str) -> Path:
    path = directory / "station.yaml"
    path.write_text(yaml.safe_dump({
        "station": {"id": STATION_ID, "vendor": "v", "model": "m"},
        "csms": {"url": url, "ocpp_version": version, "call_timeout_s": 2,
                 "reconnect_min_s": 0.05, "reconnect_max_s": 0.3},
        "storage": {"dir": str(directory / "state")},
        "control": {"socket": str(directory / "ctl.sock")},
        "hal": {"driver": "sim"},
        "connectors": [{"id": 1, "max_current_a": 32, "phases": 3}],
    }))  # fmt: skip
    return path


async def start_without_csms(version: str, directory: Path) -> dict[str, Any]:
    """Up, with nothing to connect to (port 9 refuses): the start; then, a moment later,
    the parts it did not need."""
    config = load_config(station_yaml(directory, version, "ws://127.0.0.1:9/ocpp"))
    hardware = await build_hardware(config)
    daemon = Daemon(config, hardware)
    up = asyncio.Event()
    running = asyncio.create_task(daemon.run(on_ready=up.set))
    try:
        await asyncio.wait_for(up.wait(), WAIT_S)
        at_start = imported(version)
        built_at_start = daemon.parts.complete
        await until(lambda: daemon.parts.complete, "the other parts built")
        return {"at_start": at_start, "built_at_start": built_at_start,
                "parts_built": imported(version)}  # fmt: skip
    finally:
        daemon.stop()
        await running
        await hardware.close()


async def with_csms(version: str, directory: Path) -> dict[str, Any]:
    csms = Csms201() if version == "2.0.1" else Csms()
    await csms.start()
    config = load_config(station_yaml(directory, version, csms.url))
    hardware = await build_hardware(config)
    daemon = Daemon(config, hardware)
    running = asyncio.create_task(daemon.run())
    try:
        await csms.wait_for("BootNotification", WAIT_S)
        await csms.wait_for("StatusNotification", WAIT_S)
        result: dict[str, Any] = {"registered": imported(version), "answers": {}}
        for action, payload in REQUESTS[version]:
            result["answers"][action] = await csms.call(STATION_ID, action, payload)
            result[f"after {action}"] = imported(version)
        return result
    finally:
        daemon.stop()
        await running
        await hardware.close()
        await csms.stop()


async def main(version: str, directory: Path) -> None:
    (directory / "start").mkdir()
    (directory / "online").mkdir()
    report = await start_without_csms(version, directory / "start")
    report |= await with_csms(version, directory / "online")
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
