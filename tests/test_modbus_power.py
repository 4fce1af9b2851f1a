"""Modbus power stages: the register maps, and the driver against the simulated stage server
over real Modbus (TCP on 127.0.0.1, RTU on a pty) through the shared ModbusBus.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal.drivers.modbus_bus import ModbusBus
from hal.drivers.modbus_power import ModbusPowerStage
from hal.drivers.modbus_power_map import load_power_map, power_models
from hal.interfaces import (
    DeviceError,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    PowerModule,
    PowerReading,
)
from hal.sim.modbus_power_server import ModbusPowerServer, SimulatedStage

UNIT = 3
POLL_S = 0.05
TIMEOUT_S = 0.1
TRANSPORTS = ["tcp", "rtu"]

# --- maps ------------------------------------------------------------------------------------


def test_shipped_maps_load() -> None:
    assert {"generic_dc", "generic_dc_holding"} <= set(power_models())
    for model in power_models():
        assert load_power_map(model).model == model


def test_generic_map_reads_as_documented() -> None:
    power_map = load_power_map("generic_dc")
    assert power_map.voltage_setpoint.address == 0 and power_map.voltage_setpoint.scale == 0.001
    assert power_map.switch.kind == "coil"
    assert power_map.measurement_function == 4
    assert power_map.status.bits[2] == (FaultCode.HighTemperature, "over-temperature")


def test_a_bare_on_off_in_yaml_means_the_switch_levels() -> None:
    switch = load_power_map("generic_dc_holding").switch
    assert (switch.kind, switch.address, switch.on, switch.off) == ("register", 0x0102, 1, 0)


def test_unknown_model_names_the_available_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown power stage model 'nope'; available: .*generic_dc"
    ):
        load_power_map("nope")


GOOD = """\
model: {model}
word_order: big
setpoints:
  voltage: {{address: 0, type: uint32, scale: 0.001}}
  current: {{address: 2, type: uint32, scale: 0.001}}
switch: {{coil: 0}}
measurements:
  function: 4
  voltage: {{address: 0, type: float32}}
  current: {{address: 2, type: float32}}
status:
  function: 4
  address: 16
  bits:
    0: {{code: OverVoltage, info: output over-voltage}}
"""


# (text to replace in the good map, replacement, what the error must say)
MALFORMED = [
    ("word_order: big\n", "word_order: big\nextra: 1\n", "extra: unknown key"),
    ("word_order: big\n", "", "word_order: missing"),
    ("type: uint32, scale: 0.001}\n  current", "type: u32}\n  current", "voltage.type: 'u32'"),
    ("scale: 0.001}\n  current", "scale: 0}\n  current", "voltage.scale: 0"),
    ("OverVoltage", "Smoke", "status.bits.0.code: 'Smoke'"),
    ("0: {code", "16: {code", "status.bits.16"),
    ("current: {address: 2, type: uint32", "current: {address: 1, type: uint32", "overlaps"),
    ("{coil: 0}", "{relay: 0}", "switch: {'relay': 0}"),
    ("function: 4\n  voltage", "function: 5\n  voltage", "measurements.function: 5"),
    ("model: mine", "model: other", "must match the file name"),
    ("bits:\n", "bits: [\n", "not valid YAML"),
]


@pytest.mark.parametrize(("old", "new", "message"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_a_malformed_map_names_the_file_and_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.format(model="mine"))
    assert load_power_map(path).model == "mine"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        load_power_map(path)
    assert str(path) in str(error.value)


def test_a_missing_map_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read power stage map"):
        load_power_map(tmp_path / "absent.yaml")


def test_the_constructor_refuses_an_unknown_model() -> None:
    with pytest.raises(ValueError, match="unknown power stage model"):
        ModbusPowerStage(1, model="nope", bus=None, unit=1)  # type: ignore[arg-type]


# --- the driver against the simulated server ------------------------------------------------


@dataclass
class Rig:
    server: ModbusPowerServer
    sim: SimulatedStage
    power: ModbusPowerStage
    events: list[HalEvent]


@asynccontextmanager
async def running(transport: str, model: str = "generic_dc") -> AsyncIterator[Rig]:
    server = ModbusPowerServer(transport)  # type: ignore[arg-type]
    sim = server.add_stage(UNIT, model)
    await server.start()
    if transport == "tcp":
        bus = ModbusBus.for_tcp("127.0.0.1", int(server.port), timeout_s=TIMEOUT_S)
    else:
        bus = ModbusBus.for_serial(str(server.port), timeout_s=TIMEOUT_S)
    power = ModbusPowerStage(1, model=model, bus=bus, unit=UNIT, poll_interval_s=POLL_S)
    events: list[HalEvent] = []
    try:
        await power.start(events.append)
        yield Rig(server, sim, power, events)
    finally:
        await power.stop()
        await bus.close()
        await server.stop()


async def eventually(predicate: Callable[[], bool], timeout_s: float = 1.5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_modbus_power_stage_is_a_power_module() -> None:
    stage = ModbusPowerStage(1, model="generic_dc", bus=None, unit=1)  # type: ignore[arg-type]
    assert isinstance(stage, PowerModule)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_setpoints_are_written_in_register_units(transport: str) -> None:
    async with running(transport) as rig:
        await rig.power.set_output(400.0, 60.0)
        # 400 000 mV = 0x00061A80, 60 000 mA = 0x0000EA60; high word first
        assert rig.sim.writes == [(0x0000, [0x0006, 0x1A80]), (0x0002, [0x0000, 0xEA60])]
        assert (rig.sim.voltage_setpoint_v, rig.sim.current_setpoint_a) == (400.0, 60.0)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_coil_switches_the_output(transport: str) -> None:
    async with running(transport) as rig:
        await rig.power.switch(True)
        assert rig.sim.on
        await rig.power.switch(False)
        assert not rig.sim.on


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_measurements_are_decoded(transport: str) -> None:
    async with running(transport) as rig:
        await rig.power.set_output(400.0, 60.0)
        assert await rig.power.read() == PowerReading(0.0, 0.0)  # off
        await rig.power.switch(True)
        assert await rig.power.read() == PowerReading(400.0, 60.0)


async def test_a_map_with_16_bit_holding_registers_and_a_switch_register() -> None:
    async with running("tcp", "generic_dc_holding") as rig:
        await rig.power.set_output(400.0, 60.5)
        await rig.power.switch(True)
        assert rig.sim.writes[-3:] == [(0x0100, [4000]), (0x0101, [605]), (0x0102, [1])]
        assert await rig.power.read() == PowerReading(400.0, 60.5)
        await rig.power.switch(False)
        assert rig.sim.writes[-1] == (0x0102, [0])
        assert not rig.sim.on


async def test_a_setpoint_beyond_the_map_limits_is_refused() -> None:
    async with running("tcp") as rig:
        with pytest.raises(ValueError, match="above the generic_dc limit of 1000 V"):
            await rig.power.set_output(1001.0, 10.0)
        with pytest.raises(ValueError, match="limit of 200 A"):
            await rig.power.set_output(400.0, 250.0)
        assert rig.sim.writes == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_status_bit_is_a_fault_that_switches_the_output_off(transport: str) -> None:
    async with running(transport) as rig:
        await rig.power.set_output(400.0, 60.0)
        await rig.power.switch(True)
        rig.server.set_status_bit(UNIT, 2)
        await eventually(lambda: bool(rig.events))
        assert rig.events == [
            FaultRaised(1, FaultCode.HighTemperature, "power stage unit 3: over-temperature")
        ]
        await eventually(lambda: not rig.sim.on)  # the off-write follows the fault event
        assert not rig.power.is_on
        with pytest.raises(DeviceError, match="over-temperature"):
            await rig.power.switch(True)
        rig.server.clear_status(UNIT)
        await eventually(lambda: len(rig.events) == 2)
        assert rig.events[1] == FaultCleared(1, FaultCode.HighTemperature)
        await rig.power.switch(True)
        assert rig.sim.on


async def test_two_bits_of_one_code_clear_it_only_when_both_are_gone() -> None:
    async with running("tcp") as rig:
        rig.server.set_status_bit(UNIT, 0)  # output over-voltage
        rig.server.set_status_bit(UNIT, 4)  # input over-voltage
        await eventually(lambda: len(rig.events) == 2)
        assert {e.code for e in rig.events} == {FaultCode.OverVoltage}  # type: ignore[union-attr]
        rig.server.set_status_bit(UNIT, 0, False)
        await asyncio.sleep(3 * POLL_S)
        assert len(rig.events) == 2
        rig.server.clear_status(UNIT)
        await eventually(lambda: len(rig.events) == 3)
        assert rig.events[2] == FaultCleared(1, FaultCode.OverVoltage)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_silent_unit_raises_device_error_then_a_fault_and_recovers(transport: str) -> None:
    async with running(transport) as rig:
        await rig.power.set_output(400.0, 60.0)
        await rig.power.switch(True)
        rig.server.go_silent(UNIT)
        with pytest.raises(DeviceError, match="unit 3: no answer"):
            await rig.power.read()
        await eventually(lambda: bool(rig.events))
        assert rig.events == [
            FaultRaised(1, FaultCode.InternalError, "power stage unit 3: does not answer")
        ]
        assert not rig.power.is_on

        rig.server.go_silent(UNIT, False)
        await eventually(lambda: len(rig.events) == 2)
        assert rig.events[1] == FaultCleared(1, FaultCode.InternalError)
        # It kept its output on while nobody could reach it: off at once on recovery.
        await eventually(lambda: not rig.sim.on, 0.5)
        await rig.power.switch(True)
        assert await rig.power.read() == PowerReading(400.0, 60.0)


async def test_stop_switches_the_output_off() -> None:
    async with running("tcp") as rig:
        await rig.power.switch(True)
        await rig.power.stop()
        assert not rig.sim.on


async def test_the_server_refuses_setpoints_beyond_the_map_limits() -> None:
    server = ModbusPowerServer("tcp")
    sim = server.add_stage(UNIT, "generic_dc")
    await server.start()
    bus = ModbusBus.for_tcp("127.0.0.1", int(server.port), timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(DeviceError, match="illegal data value"):
            await bus.write_registers(0, [0x0010, 0x0000], UNIT)  # 1048.576 V
        assert sim.writes == []
        with pytest.raises(DeviceError, match="no answer"):
            await bus.read(4, 0, 2, UNIT + 1)  # nobody at that unit
    finally:
        await bus.close()
        await server.stop()
