"""The daemon with a DC connector, on real drivers against wire-level simulators: the
current asked of the power modules respects max_power_kw, and chargerctl status shows
the DC output the modules report. Also on a board: a controller on a serial port that is
not there faults its connector with the path in the log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from devcsms import Csms

from .conftest import Station, run_cli, wait_until
from .test_wire import DC_CONNECTOR, log_clean, wire_up


def dc_output(status: dict[str, Any]) -> dict[str, Any]:
    return status["dc"] or {}


async def test_dc_current_is_held_under_max_power_kw_and_status_shows_the_output(
    csms: Csms, station: Station
):
    """Three 30 kW modules give 150 A at 400 V; max_power_kw 40 holds the setpoint at
    40 kW / 400 V = 100 A, and status reports what the modules put out."""
    power = {**DC_CONNECTOR["power"], "modules": [0, 1, 2]}
    dc = {**DC_CONNECTOR, "max_current_a": 150, "max_power_kw": 40, "min_voltage_v": 150,
          "max_voltage_v": 1000, "power": power}  # fmt: skip
    del dc["phases"]
    wire_up(station, [dc])
    mark = await station.start(wait=False)
    await station.wait_statuses_reported(after=mark, connectors=(0, 1))
    idle = await station.connector(1)
    assert set(idle["dc"]) == {"voltage_v", "current_a", "power_w"}

    await station.start_session(1, "TAG1")
    assert (await station.connector(1))["offered_a"] == 150

    async def output() -> dict[str, Any]:
        return dc_output(await station.connector(1))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (now := await output()).get("current_a") != 100.0:
        assert loop.time() < deadline, f"the DC output never settled at 100 A: {now}"
        assert (now.get("current_a") or 0) <= 100.0, f"more than 40 kW asked: {now}"
        await asyncio.sleep(0.1)
    assert now == {"voltage_v": 400.0, "current_a": 100.0, "power_w": 40_000}

    text = run_cli("--socket", str(station.socket), "status", module="chargerd.ctl")
    assert text.returncode in (0, 1), text.stderr  # 1 when monitoring codes mark a problem
    assert "DC output 400 V  100 A  40000 W" in text.stdout, text.stdout
    log_clean(station)


async def test_ac_connectors_have_no_dc_output(csms: Csms, station: Station):
    await station.start()
    assert (await station.connector(1))["dc"] is None


async def test_a_controller_port_that_does_not_exist_faults_the_connector_naming_it(
    csms: Csms, station: Station
):
    missing = "/dev/ttyUSB-chargerd-e2e-missing"
    connector = {"id": 1, "max_current_a": 32, "phases": 3,
                 "controller": {"driver": "rapi", "port": missing},
                 "meter": {"driver": "modbus", "model": "sdm630", "host": "127.0.0.1",
                           "port": 9, "unit": 1, "timeout_s": 0.2}}  # fmt: skip
    wire_up(station, [connector], wire=False)
    mark = await station.start(wait=False)
    await station.wait_statuses_reported(after=mark, connectors=(0, 1))
    await station.wait_status(1, "Faulted")
    await wait_until(lambda: missing in station.log(), f"the log to name {missing}")
    assert "does not exist (yet)" in station.log()  # the configuration's warning, logged
    assert "Traceback" not in station.log()
