"""The simulated hardware: EV model, energy integration, persistence, fault injection."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

import hal.sim.meter as sim_meter
from chargerd.config import Config, ConnectorConfig, CsmsConfig, SimConfig, StationInfo
from hal.interfaces import (
    DeviceError,
    EvseController,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    Meter,
    PilotChanged,
    PilotState,
    TamperDetected,
)
from hal.registry import DRIVER_NAMES, build_hardware
from hal.sim import SimController, SimMeter, SimulatedStation


class FakeClock:
    """Monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Rig:
    controller: SimController
    meter: SimMeter
    clock: FakeClock
    events: list[HalEvent]
    state_dir: Path


@pytest.fixture
async def rig(tmp_path: Path):
    clock = FakeClock()
    controller = SimController(1, ev_max_current_a=32.0)
    meter = SimMeter(controller, tmp_path, voltage_v=230.0, phases=3, clock=clock)
    events: list[HalEvent] = []
    await controller.start(events.append)
    events.clear()  # the start report has its own test
    yield Rig(controller, meter, clock, events, tmp_path)
    await controller.stop()
    await meter.stop()


async def charging(rig: Rig, amps: float = 16.0) -> None:
    """An EV plugged in and drawing `amps` through a closed contactor."""
    rig.controller.plug()
    await rig.controller.offer_current(amps)
    await rig.controller.set_contactor(True)


def stored_wh(state_dir: Path, connector: int = 1) -> float | None:
    with sqlite3.connect(state_dir / "sim-meter.sqlite") as db:
        row = db.execute(
            "SELECT energy_wh FROM energy WHERE connector = ?", (connector,)
        ).fetchone()
    return row[0] if row else None


def test_sim_devices_implement_the_hal_roles(tmp_path: Path) -> None:
    controller = SimController(1)
    assert isinstance(controller, EvseController)
    assert isinstance(SimMeter(controller, tmp_path), Meter)


async def test_start_reports_pilot_a_once() -> None:
    events: list[HalEvent] = []
    await SimController(2).start(events.append)
    assert events == [PilotChanged(2, PilotState.A)]


async def test_ev_draws_only_when_offered_and_contactor_closed(rig: Rig) -> None:
    c = rig.controller
    c.plug()
    assert (c.pilot, c.current_a) == (PilotState.B, 0.0)
    await c.set_contactor(True)
    assert c.current_a == 0.0  # contactor closed, nothing offered: EV stays in B
    await c.set_contactor(False)
    await c.offer_current(16)
    assert (c.pilot, c.current_a) == (PilotState.C, 0.0)  # EV asks, contactor open
    await c.set_contactor(True)
    assert c.current_a == 16.0
    assert rig.events == [PilotChanged(1, PilotState.B), PilotChanged(1, PilotState.C)]


async def test_ev_draws_at_most_its_own_maximum(tmp_path: Path) -> None:
    c = SimController(1, ev_max_current_a=20.0)
    c.plug()
    await c.offer_current(32)
    await c.set_contactor(True)
    assert c.current_a == 20.0


async def test_offer_below_6a_sends_ev_back_to_b(rig: Rig) -> None:
    await charging(rig)
    rig.events.clear()
    await rig.controller.offer_current(5.9)
    assert rig.events == [PilotChanged(1, PilotState.B)]
    assert rig.controller.current_a == 0.0


async def test_16a_three_phase_is_11_04_kw_and_energy_follows_time(rig: Rig) -> None:
    await charging(rig, 16)
    rig.clock.advance(3600)
    reading = await rig.meter.read()
    assert reading.power_w == pytest.approx(11040.0)
    assert reading.current_a == (16.0, 16.0, 16.0)
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.frequency_hz == 50.0
    assert reading.energy_wh == pytest.approx(11040.0)


async def test_energy_integrates_each_interval_at_its_own_current(rig: Rig) -> None:
    await charging(rig, 16)
    rig.clock.advance(600)  # 11040 W × 600 s = 1840 Wh
    await rig.controller.offer_current(8)
    rig.clock.advance(600)  # 5520 W × 600 s = 920 Wh
    await rig.controller.set_contactor(False)
    rig.clock.advance(600)  # nothing flows
    assert (await rig.meter.read()).energy_wh == pytest.approx(2760.0)


async def test_single_phase_meter_has_one_entry_per_phase(tmp_path: Path) -> None:
    clock = FakeClock()
    c = SimController(1)
    meter = SimMeter(c, tmp_path, voltage_v=230.0, phases=1, clock=clock)
    c.plug()
    await c.offer_current(10)
    await c.set_contactor(True)
    clock.advance(3600)
    reading = await meter.read()
    await meter.stop()
    assert (reading.power_w, reading.current_a, reading.voltage_v) == (2300.0, (10.0,), (230.0,))
    assert reading.energy_wh == pytest.approx(2300.0)


async def test_ev_pause_holds_b_until_resume(rig: Rig) -> None:
    await charging(rig)
    rig.events.clear()
    rig.controller.ev_pause()
    assert rig.controller.current_a == 0.0
    await rig.controller.offer_current(20)  # a new offer does not wake a paused EV
    assert rig.controller.pilot is PilotState.B
    rig.controller.ev_resume()
    assert rig.controller.current_a == 20.0
    assert rig.events == [PilotChanged(1, PilotState.B), PilotChanged(1, PilotState.C)]


async def test_ev_resume_without_offer_stays_in_b(rig: Rig) -> None:
    rig.controller.plug()
    rig.controller.ev_pause()
    rig.controller.ev_resume()
    assert rig.controller.pilot is PilotState.B
    assert rig.events == [PilotChanged(1, PilotState.B)]


async def test_unplug_goes_to_a_and_stops_drawing(rig: Rig) -> None:
    await charging(rig)
    rig.clock.advance(60)
    rig.events.clear()
    rig.controller.unplug()
    assert rig.events == [PilotChanged(1, PilotState.A)]
    assert rig.controller.current_a == 0.0
    before = (await rig.meter.read()).energy_wh
    rig.clock.advance(60)
    assert (await rig.meter.read()).energy_wh == before


async def test_no_event_for_changes_that_change_nothing(rig: Rig) -> None:
    c = rig.controller
    c.plug()
    c.plug()
    await c.offer_current(16)
    await c.offer_current(32)  # still C
    c.ev_resume()  # not paused
    c.unplug()
    c.unplug()
    assert [e.state for e in rig.events if isinstance(e, PilotChanged)] == ["B", "C", "A"]
    assert len(rig.events) == 3


async def test_fault_raise_and_clear(rig: Rig) -> None:
    c = rig.controller
    c.fault(FaultCode.GroundFailure, "GFCI tripped")
    c.fault(FaultCode.GroundFailure)  # already present: no second event
    assert c.faulted and c.faults == {FaultCode.GroundFailure: "GFCI tripped"}
    c.clear()
    c.clear()  # nothing left to clear
    assert not c.faulted
    assert rig.events == [
        FaultRaised(1, FaultCode.GroundFailure, "GFCI tripped"),
        FaultCleared(1),
    ]


async def test_fault_present_at_start_is_reported() -> None:
    c = SimController(1)
    c.fault(FaultCode.HighTemperature)
    events: list[HalEvent] = []
    await c.start(events.append)
    assert events == [
        PilotChanged(1, PilotState.A),
        FaultRaised(1, FaultCode.HighTemperature, ""),
    ]


async def test_lock_is_tracked(rig: Rig) -> None:
    assert await rig.controller.set_lock(True) is True
    assert rig.controller.locked
    assert await rig.controller.set_lock(False) is True
    assert not rig.controller.locked


async def test_read_persists_at_most_once_per_second(rig: Rig) -> None:
    await charging(rig)
    rig.clock.advance(0.5)
    await rig.meter.read()
    assert stored_wh(rig.state_dir) is None  # less than 1 s since the meter started
    rig.clock.advance(0.5)
    first = (await rig.meter.read()).energy_wh
    assert stored_wh(rig.state_dir) == first
    rig.clock.advance(0.5)
    await rig.meter.read()
    assert stored_wh(rig.state_dir) == first


async def test_register_survives_a_new_meter_on_the_same_dir(rig: Rig) -> None:
    await charging(rig)
    rig.clock.advance(100)
    last = (await rig.meter.read()).energy_wh
    rig.clock.advance(0.5)  # not persisted: lost as on kill -9, so at most ~1 s
    # No stop(): a second meter opens the file like a daemon restarted after kill -9.
    again = SimMeter(SimController(1), rig.state_dir, clock=rig.clock)
    after = (await again.read()).energy_wh
    await again.stop()
    assert after == last
    assert after == pytest.approx(11040 * 100 / 3600)


async def test_stop_persists_and_register_never_decreases(tmp_path: Path) -> None:
    clock = FakeClock()
    c = SimController(1)
    meter = SimMeter(c, tmp_path, clock=clock)
    c.plug()
    await c.offer_current(16)
    await c.set_contactor(True)
    clock.advance(0.3)  # below the write period: only stop() persists it
    await meter.stop()
    saved = stored_wh(tmp_path)
    assert saved == pytest.approx(11040 * 0.3 / 3600)
    # Even a write of a lower value (a late, stale writer) does not lower the register.
    sim_meter.EnergyRegisterStore(tmp_path).save(1, 0.0)
    reopened = SimMeter(SimController(1), tmp_path, clock=clock)
    assert (await reopened.read()).energy_wh == saved
    await reopened.stop()


async def test_registers_of_connectors_are_separate(tmp_path: Path) -> None:
    clock = FakeClock()
    station = SimulatedStation(
        [ConnectorConfig(1), ConnectorConfig(2)], SimConfig(), tmp_path, clock=clock
    )
    station.plug(2)
    await station.controller(2).offer_current(16)
    await station.controller(2).set_contactor(True)
    clock.advance(3600)
    for meter in station.meters.values():
        await meter.stop()
    assert stored_wh(tmp_path, 1) is None
    assert stored_wh(tmp_path, 2) == pytest.approx(11040.0)


async def test_started_meter_persists_without_reads(rig: Rig, monkeypatch) -> None:
    monkeypatch.setattr(sim_meter, "PERSIST_PERIOD_S", 0.01)
    await charging(rig)
    await rig.meter.start(rig.events.append)
    rig.clock.advance(10)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if stored_wh(rig.state_dir) is not None:
            break
    assert stored_wh(rig.state_dir) == pytest.approx(11040 * 10 / 3600)


async def test_meter_fail_and_restore(rig: Rig) -> None:
    await charging(rig)
    rig.meter.meter_fail()
    rig.clock.advance(3600)
    with pytest.raises(DeviceError, match="connector 1"):
        await rig.meter.read()
    rig.meter.meter_restore()
    # The meter kept counting while it did not answer.
    assert (await rig.meter.read()).energy_wh == pytest.approx(11040.0)


async def test_station_commands_drive_the_right_connector(tmp_path: Path) -> None:
    station = SimulatedStation([ConnectorConfig(1), ConnectorConfig(2)], SimConfig(), tmp_path)
    events: list[HalEvent] = []
    for hw in station.hardware():
        await hw.controller.start(events.append)
    events.clear()
    station.plug(2)
    station.fault(2, "OverCurrentFailure")
    station.clear(2)
    station.unplug(2)
    assert events == [
        PilotChanged(2, PilotState.B),
        FaultRaised(2, FaultCode.OverCurrentFailure),
        FaultCleared(2),
        PilotChanged(2, PilotState.A),
    ]
    for meter in station.meters.values():
        await meter.stop()


async def test_station_rejects_unknown_connector_and_fault_code(tmp_path: Path) -> None:
    station = SimulatedStation([ConnectorConfig(1), ConnectorConfig(2)], SimConfig(), tmp_path)
    with pytest.raises(ValueError, match=r"^no connector 3; this station has 1\.\.2$"):
        station.plug(3)
    with pytest.raises(ValueError, match="unknown fault code 'Smoke'; allowed: .*GroundFailure"):
        station.fault(1, "Smoke")
    with pytest.raises(ValueError, match="no connector 0"):
        station.fault(0, "GroundFailure")
    for meter in station.meters.values():
        await meter.stop()


async def test_build_hardware_for_sim(tmp_path: Path) -> None:
    config = Config(
        path=tmp_path / "station.yaml",
        station=StationInfo(id="CP-001"),
        csms=CsmsConfig(url="ws://127.0.0.1:9000/ocpp"),
        connectors=(ConnectorConfig(1), ConnectorConfig(2, phases=1)),
        storage_dir=tmp_path,
    )
    assert "sim" in DRIVER_NAMES
    hardware = await build_hardware(config)
    station = hardware.sim
    assert isinstance(station, SimulatedStation)
    assert [hw.connector for hw in hardware.connectors] == [1, 2]
    assert hardware.connectors[1].meter is station.meter(2)
    assert station.meter(2).phases == 1
    for meter in station.meters.values():
        await meter.stop()


async def test_the_tamper_switch_is_a_hal_event() -> None:
    events: list = []
    controller = SimController(1)
    await controller.start(events.append)
    controller.tamper()
    assert events[-1] == TamperDetected(1, "the simulated enclosure")
