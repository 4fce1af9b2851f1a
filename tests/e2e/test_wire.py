"""The real daemon on real drivers, against wire-level simulators (`sim: {wire: true}`).

The connectors are written as on a board (RAPI controller on a serial port, SDM630 meters
over Modbus RTU or TCP, InfyPower modules on CAN); `sim.wire` makes the daemon start an
OpenEVSE simulator on a pty, Modbus meter servers (RTU on a pty, TCP on 127.0.0.1) and
InfyPower modules on a virtual CAN bus in its own process, and points the drivers at
them. `chargerctl sim` then drives the EV behind the RAPI line and the meters' wires.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devcsms import Csms
from hal.sim.meter import EnergyRegisterStore

from .conftest import (
    POLL_S,
    STATION_ID,
    WAIT_S,
    Station,
    calls,
    energy_values,
    wait_call,
    wait_until,
)

# Short Modbus timeouts: a silent meter is noticed within a tick.
RTU_METER = {"driver": "modbus", "model": "sdm630", "port": "/dev/ttyUSB0", "baudrate": 9600,
             "unit": 1, "timeout_s": 0.3}  # fmt: skip
TCP_METER = {"driver": "modbus", "model": "sdm630", "host": "192.0.2.10", "port": 502,
             "unit": 2, "timeout_s": 0.3}  # fmt: skip


def rapi(port: str) -> dict[str, Any]:
    return {"driver": "rapi", "port": port, "baudrate": 115200}


AC_CONNECTORS: list[dict[str, Any]] = [
    {"id": 1, "max_current_a": 32, "phases": 3, "controller": rapi("/dev/ttyAMA0"),
     "meter": RTU_METER},
    {"id": 2, "max_current_a": 32, "phases": 3, "controller": rapi("/dev/ttyAMA1"),
     "meter": TCP_METER},
]  # fmt: skip

DC_CONNECTOR: dict[str, Any] = {
    "id": 1,
    "max_current_a": 80,
    "phases": 3,
    "controller": rapi("/dev/ttymxc1"),
    "meter": RTU_METER,
    "power": {
        "driver": "infy",
        "interface": "virtual",
        "channel": "anything",
        "modules": [0, 1],
        "target_voltage_v": 400,
    },
}

PER_PHASE = "Energy.Active.Import.Register,Voltage,Current.Import"


def wire_up(station: Station, connectors: list[dict[str, Any]], wire: bool = True) -> Station:
    """Make `station` write a config with these connectors (and sim.wire)."""
    base = station.config

    def config() -> dict[str, Any]:
        cfg = base()
        cfg["sim"] = {"wire": wire}
        cfg["connectors"] = connectors
        return cfg

    station.config = config  # type: ignore[method-assign]
    return station


@pytest.fixture
def wire(station: Station) -> Station:
    """The harness's station (killed and its log printed by the harness), on wire drivers."""
    return wire_up(station, AC_CONNECTORS)


def sampled(entry_payload: dict[str, Any], measurand: str) -> dict[str | None, float]:
    """{phase: value} of one measurand in a MeterValues payload."""
    return {
        sv.get("phase"): float(sv["value"])
        for mv in entry_payload["meterValue"]
        for sv in mv["sampledValue"]
        if sv.get("measurand") == measurand
    }


async def energy_when_still(station: Station, connector: int, still_s: float = 1.3) -> int:
    """The register as chargerctl shows it, once unchanged for `still_s` (over a meter
    poll, which comes every second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    value = (await station.connector(connector))["energy_wh"]
    since = loop.time()
    while loop.time() - since < still_s:
        if loop.time() > deadline:
            raise AssertionError(f"connector {connector}: the register keeps moving: {value}")
        await asyncio.sleep(POLL_S)
        now = (await station.connector(connector))["energy_wh"]
        if now != value:
            value, since = now, loop.time()
    assert value is not None
    return value


def log_clean(station: Station) -> None:
    text = station.log()
    assert "Traceback" not in text, text
    assert " ERROR " not in text, text


# --------------------------------------------------------------------------- AC over RAPI


async def test_ac_session_through_rapi_and_rtu_meter_books_the_register(csms: Csms, wire: Station):
    # A meter that has counted before: meterStart must be its register, not 0.
    register = EnergyRegisterStore(wire.state_dir)
    register.save(1, 54_321.4)
    register.close()
    wire.ocpp["MeterValuesSampledData"] = PER_PHASE
    mark = await wire.start()
    assert (await wire.connector(1))["energy_wh"] == 54_321

    await wire.sim("plug", "1")
    await wire.wait_status(1, "Preparing")
    assert (await wire.connector(1))["pilot"] == "B"  # seen through $AT while asleep
    before = (await wire.connector(1))["energy_wh"]
    await wire.sim("tag", "TAG1")
    start = await wait_call(csms, "StartTransaction", after=mark, connectorId=1, idTag="TAG1")
    assert start.payload["meterStart"] == before == 54_321
    await wire.wait_status(1, "Charging")
    (tx,) = csms.ledger.active_transactions(STATION_ID)

    # per-phase values of the SDM630 registers, as the simulated EV draws them
    sample = await csms.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "MeterValues"
            and e.payload.get("transactionId") == tx.transaction_id
            and any(v > 0 for v in sampled(e.payload, "Current.Import").values())
        ),
        10,
        after=start.index,
    )
    volts = sampled(sample.payload, "Voltage")
    amps = sampled(sample.payload, "Current.Import")
    assert set(volts) == {"L1-N", "L2-N", "L3-N"}, sample.payload
    assert set(amps) == {"L1", "L2", "L3"}, sample.payload
    assert all(v == pytest.approx(230.0) for v in volts.values()), volts
    assert all(a == pytest.approx(32.0) for a in amps.values()), amps

    await wait_until(
        lambda: any(v > tx.meter_start for v in energy_values(tx.meter_values)),
        "a meter value above meterStart",
    )
    await wire.sim("tag", "TAG1")
    stop = await wait_call(csms, "StopTransaction", after=start.index)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx.transaction_id, "Local")
    await wire.wait_status(1, "Finishing")
    assert (await wire.connector(1))["pilot"] == "B"  # held off: the EV stopped drawing
    after_stop = await energy_when_still(wire, 1)
    assert stop.payload["meterStop"] == after_stop
    assert stop.payload["meterStop"] > start.payload["meterStart"]
    assert stop.payload["meterStop"] >= max(energy_values(tx.meter_values))

    await wire.sim("unplug", "1")
    await wait_call(csms, "StatusNotification", after=stop.index, connectorId=1, status="Available")
    await wire.wait_status(1, "Available")
    assert (tx.start_count, tx.stop_count) == (1, 1)
    assert (await wire.connector(1))["energy_wh"] == after_stop
    log_clean(wire)


async def test_second_connector_with_tcp_meter_charges_alongside_the_first(
    csms: Csms, wire: Station
):
    await wire.start()
    tx1 = await wire.start_session(1, "TAG1")
    tx2 = await wire.start_session(2, "TAG2")
    t1, t2 = csms.ledger.transactions[tx1], csms.ledger.transactions[tx2]
    await wait_until(
        lambda: all(
            any(v > t.meter_start for v in energy_values(t.meter_values)) for t in (t1, t2)
        ),
        "both meters to count",
    )
    after = len(csms.ledger.entries)
    await wire.sim("tag", "TAG2")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx2, "Local")
    assert stop.payload["meterStop"] > t2.meter_start
    await wire.wait_status(2, "Finishing")
    assert stop.payload["meterStop"] == await energy_when_still(wire, 2)
    # connector 1 is on its own line and keeps charging
    assert (await wire.connector(1))["status"] == "Charging"
    assert t1.stop_count == 0
    log_clean(wire)


async def test_ground_failure_of_the_rapi_controller_faults_and_recovers(csms: Csms, wire: Station):
    wire.log_level = "debug"  # the hardware events the daemon receives are logged
    await wire.start()
    tx_id = await wire.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await wire.sim("fault", "1", "GroundFailure")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Other")
    faulted = {"status": "Faulted", "errorCode": "GroundFailure"}
    entry = await wait_call(csms, "StatusNotification", after=after, connectorId=1, **faulted)
    await wire.wait_status(1, "Faulted")
    connector = await wire.connector(1)
    assert connector["error_code"] == "GroundFailure" and connector["offered_a"] == 0
    # the fault came from the controller's evsestate 06 (GFCI), through the RAPI driver
    assert "EVSE controller state 06: GFCI tripped" in wire.log()

    await wire.sim("clear", "1")
    finishing = await wait_call(csms, "StatusNotification", after=entry.index + 1, connectorId=1)
    assert (finishing.payload["status"], finishing.payload["errorCode"]) == ("Finishing", "NoError")
    # meterStop was read after the controller opened its relay: the register stands still
    assert stop.payload["meterStop"] == await energy_when_still(wire, 1)
    await wire.sim("unplug", "1")
    await wait_call(csms, "StatusNotification", after=finishing.index, connectorId=1,
                    status="Available")  # fmt: skip
    await wire.wait_status(1, "Available")
    assert csms.ledger.status[(STATION_ID, 1)] == ("Available", "NoError")


async def test_rapi_fault_codes_a_controller_cannot_show_are_refused(csms: Csms, wire: Station):
    await wire.start()
    answer = await wire.ctl("sim", "fault", "1", "OverVoltage")
    assert not answer["ok"]
    assert "OverVoltage" in answer["error"] and "GroundFailure" in answer["error"], answer
    assert (await wire.connector(1))["status"] == "Available"


@pytest.mark.parametrize("n", [1, 2], ids=["rtu", "tcp"])
async def test_silent_meter_stops_the_transaction_and_recovers_by_itself(
    csms: Csms, wire: Station, n: int
):
    await wire.start()
    tx_id = await wire.start_session(n, "TAG1")
    tx = csms.ledger.transactions[tx_id]
    await wait_until(
        lambda: any(v > tx.meter_start for v in energy_values(tx.meter_values)),
        "a meter value above meterStart",
    )
    after = len(csms.ledger.entries)
    await wire.sim("meter-fail", str(n))
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Other")
    # the last good reading stands as meterStop
    assert stop.payload["meterStop"] >= max(energy_values(tx.meter_values)) > tx.meter_start
    faulted = {"status": "Faulted", "errorCode": "PowerMeterFailure"}
    entry = await wait_call(csms, "StatusNotification", after=after, connectorId=n, **faulted)
    await wire.wait_status(n, "Faulted")
    assert (await wire.connector(n))["offered_a"] == 0

    await wire.sim("meter-restore", str(n))
    back = await wait_call(csms, "StatusNotification", after=entry.index + 1, connectorId=n)
    assert (back.payload["status"], back.payload["errorCode"]) in (
        ("Finishing", "NoError"),
        ("Available", "NoError"),
    ), back.payload
    await wire.wait_status(n, back.payload["status"])
    # the register did not go backwards, and nothing flows after the stop
    assert (await energy_when_still(wire, n)) >= stop.payload["meterStop"]
    assert calls(csms, "StartTransaction", after) == []


# --------------------------------------------------------------------------- DC over CAN


async def test_dc_session_with_infy_modules_on_a_virtual_can_bus(csms: Csms, station: Station):
    wire_up(station, [DC_CONNECTOR])
    mark = await station.start(wait=False)
    await station.wait_statuses_reported(after=mark, connectors=(0, 1))
    await station.wait_status(1, "Available")

    tx_id = await station.start_session(1, "TAG1")
    tx = csms.ledger.transactions[tx_id]
    await wait_call(csms, "StatusNotification", after=mark, connectorId=1, status="Charging")
    await wait_until(
        lambda: any(v > tx.meter_start for v in energy_values(tx.meter_values)),
        "a meter value above meterStart",
    )
    # the power modules are polled every second while charging: still Charging later
    await wait_until(lambda: len(tx.meter_values) >= 3, "three samples of the session")
    assert (await station.connector(1))["status"] == "Charging"

    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Local")
    assert stop.payload["meterStop"] > tx.meter_start
    await station.wait_status(1, "Finishing")
    await station.sim("unplug", "1")
    await station.wait_status(1, "Available")
    assert station.running
    log_clean(station)
    await station.stop()  # switches the modules off and closes the CAN bus: exit 0
    assert "Traceback" not in station.log()


async def test_dc_setpoint_is_the_yaml_voltage_and_the_offered_current(
    csms: Csms, station: Station
):
    """On contactor close the daemon sets the modules to target_voltage_v and the offered
    current: at 800 V two 30 kW modules give 2 × 37.5 A, less than the 80 A offered, which
    the driver logs."""
    dc = {**DC_CONNECTOR, "power": {**DC_CONNECTOR["power"], "target_voltage_v": 800}}
    wire_up(station, [dc])
    mark = await station.start(wait=False)
    await station.wait_statuses_reported(after=mark, connectors=(0, 1))
    await station.start_session(1, "TAG1")
    await wait_until(
        lambda: "80.0 A asked, the modules give at most 75.0 A at 800.0 V" in station.log(),
        "the setpoint to reach the power modules",
    )
    assert (await station.connector(1))["status"] == "Charging"
    log_clean(station)


async def test_dc_connector_whose_can_bus_cannot_be_opened_does_not_crash_the_daemon(
    csms: Csms, station: Station
):
    """A board whose CAN interface is down (no `ip link set can0 up`): like a RAPI port that
    cannot be opened, this should fault the connector, not end the daemon with a traceback."""
    dc = {"id": 1, "max_current_a": 80,
          "controller": {"driver": "sim"}, "meter": {"driver": "sim"},  # asked for: real power
          "power": {"driver": "infy", "interface": "socketcan", "channel": "nocan-e2e0",
                    "modules": [0, 1]}}  # fmt: skip
    wire_up(station, [dc], wire=False)

    async def no_wait() -> None:  # the daemon may exit before its socket answers
        return None

    station.wait_socket = no_wait  # type: ignore[method-assign]
    mark = await station.start(wait=False)
    await wait_until(
        lambda: not station.running or calls(csms, "StatusNotification", mark) != [],
        "the daemon to report a status or exit",
    )
    assert "Traceback" not in station.log(), station.log()[-2000:]
    assert station.running, f"chargerd exited with {station.proc.returncode}"
    await station.wait_status(1, "Faulted")
