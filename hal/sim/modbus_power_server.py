"""Simulated Modbus DC power stages on a real wire: TCP on 127.0.0.1, or RTU on a pty.

Each stage is a unit id with a power-stage map (`hal/maps/power/`); it keeps the
setpoints and the on/off state written to it, answers measurements from them (its load
takes the whole current setpoint while on) and shows fault bits set by a test in its
status register. Runs on pymodbus's own server: every stage is a `SimDevice` whose action
applies writes and fills the registers that are read.

Faults: `set_status_bit(unit, bit)`, `clear_status(unit)`, `go_silent(unit)`. A unit
nobody added never answers, as on a real line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.drivers.modbus_power_map import STATUS_BITS, PowerMap, load_power_map
from hal.maps.loader import RegisterValue
from hal.sim.modbus_line import ModbusLine

# pymodbus function codes by the table they address.
_HOLDING_FUNCTIONS = (3, 6, 16, 22, 23)
_COIL_FUNCTIONS = (1, 5, 15)


@dataclass
class SimulatedStage:
    """One power stage on the simulated line: what it was told, what it shows."""

    unit: int
    map: PowerMap
    on: bool = False
    voltage_setpoint_v: float = 0.0
    current_setpoint_a: float = 0.0
    status_word: int = 0
    silent: bool = False
    requests: int = 0  # requests addressed to this unit, answered or not
    # Holding-register writes as they arrived: (address, raw register values).
    writes: list[tuple[int, list[int]]] = field(default_factory=list)

    def measured(self) -> tuple[float, float]:
        """(volts, amps) at the output."""
        if not self.on:
            return 0.0, 0.0
        return self.voltage_setpoint_v, self.current_setpoint_a


class ModbusPowerServer:
    """Simulated power stages on one Modbus line (`transport="rtu"`) or TCP endpoint.

    Add stages with `add_stage()` before `start()`. After `start()`, `.port` is where a
    driver connects: the TCP port on `host` (a free one when `port=0`), or the path of
    the pty slave for RTU.
    """

    def __init__(
        self,
        transport: Literal["tcp", "rtu"] = "tcp",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._line = ModbusLine(transport, host=host, port=port, name="modbus power server")
        self.stages: dict[int, SimulatedStage] = {}

    @property
    def port(self) -> int | str:
        """TCP port number, or the pty slave path for RTU (after start())."""
        return self._line.port

    @property
    def transport(self) -> str:
        return self._line.transport

    # --- the stages and fault injection ----------------------------------------------------

    def add_stage(self, unit: int, model: str | PowerMap) -> SimulatedStage:
        """Put a power stage of `model` (a map name, path or PowerMap) at `unit`."""
        if self._line.started:
            raise RuntimeError("modbus power server: add stages before start()")
        if not 1 <= unit <= 247:
            raise ValueError(f"modbus power server: unit must be 1..247, not {unit}")
        if unit in self.stages:
            raise ValueError(f"modbus power server: unit {unit} is already on the line")
        power_map = model if isinstance(model, PowerMap) else load_power_map(model)
        stage = SimulatedStage(unit, power_map)
        self.stages[unit] = stage
        return stage

    def stage(self, unit: int) -> SimulatedStage:
        try:
            return self.stages[unit]
        except KeyError:
            raise ValueError(f"modbus power server: no power stage at unit {unit}") from None

    def set_status_bit(self, unit: int, bit: int, value: bool = True) -> None:
        """Set (or clear) bit `bit` of `unit`'s status register."""
        if not 0 <= bit < STATUS_BITS:
            raise ValueError(f"the status register has bits 0..{STATUS_BITS - 1}, not {bit}")
        stage = self.stage(unit)
        if value:
            stage.status_word |= 1 << bit
        else:
            stage.status_word &= ~(1 << bit)

    def clear_status(self, unit: int) -> None:
        self.stage(unit).status_word = 0

    def go_silent(self, unit: int, silent: bool = True) -> None:
        """Unit `unit` stops answering (True) or answers again (False)."""
        self.stage(unit).silent = silent

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving (inside the running event loop)."""
        await self._line.start([self._device(stage) for stage in self.stages.values()])

    async def stop(self) -> None:
        """Stop serving; an RTU line's pty disappears (drivers on it see the port close)."""
        await self._line.stop()

    # --- answering -------------------------------------------------------------------------

    def _device(self, stage: SimulatedStage) -> SimDevice:
        power_map = stage.map
        tables = power_map.registers()
        coil = power_map.switch.address if power_map.switch.kind == "coil" else 0

        def block(ranges: list[tuple[str, int, int]]) -> list[SimData]:
            if not ranges:  # pymodbus wants every table to hold something
                return [SimData(0, values=0, datatype=DataType.REGISTERS)]
            low, high = min(r[1] for r in ranges), max(r[2] for r in ranges)
            return [SimData(low, count=high - low, values=0, datatype=DataType.REGISTERS)]

        return SimDevice(
            id=stage.unit,
            simdata=(
                [SimData(coil, values=False, datatype=DataType.BITS)],
                [SimData(0, values=False, datatype=DataType.BITS)],
                block(tables[3]),
                block(tables[4]),
            ),
            action=partial(self._answer, stage),
        )

    async def _answer(
        self,
        stage: SimulatedStage,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus SimDevice action: apply a write, or fill what is about to be read."""
        stage.requests += 1
        if stage.silent:
            raise NoSuchIdException(f"unit {stage.unit} is silent")
        if set_values is not None:
            if function_code in _COIL_FUNCTIONS:
                return _write_coils(stage, address, [bool(v) for v in set_values])
            return _write_registers(stage, start_address, address, registers, list(set_values))
        if function_code in _COIL_FUNCTIONS or function_code == 2:
            return None  # bits: nothing to compute
        table = 3 if function_code in _HOLDING_FUNCTIONS else 4
        power_map = stage.map
        if table == power_map.measurement_function:
            volts, amps = stage.measured()
            _put(registers, start_address, power_map.voltage, volts)
            _put(registers, start_address, power_map.current, amps)
        if table == power_map.status.function:
            registers[power_map.status.address - start_address] = stage.status_word
        return None


def _put(registers: list[int], start: int, register: RegisterValue, number: float) -> None:
    registers[register.address - start : register.end - start] = register.encode(number)


def _write_coils(stage: SimulatedStage, address: int, values: list[bool]) -> ExcCodes | None:
    switch = stage.map.switch
    index = switch.address - address
    if switch.kind == "coil" and 0 <= index < len(values):
        stage.on = values[index]
    return None


def _write_registers(
    stage: SimulatedStage, start: int, address: int, registers: list[int], values: list[int]
) -> ExcCodes | None:
    """Apply a holding-register write to the stage; ILLEGAL_VALUE for what it refuses."""
    power_map = stage.map
    after = list(registers)
    after[address - start : address - start + len(values)] = values

    def decoded(register: RegisterValue) -> float:
        number = register.decode(after[register.address - start : register.end - start])
        return 0.0 if number is None else number

    volts, amps = decoded(power_map.voltage_setpoint), decoded(power_map.current_setpoint)
    if (power_map.max_voltage_v is not None and volts > power_map.max_voltage_v) or (
        power_map.max_current_a is not None and amps > power_map.max_current_a
    ):
        return ExcCodes.ILLEGAL_VALUE
    on = stage.on
    switch = power_map.switch
    if switch.kind == "register" and address <= switch.address < address + len(values):
        level = after[switch.address - start]
        if level not in (switch.on, switch.off):
            return ExcCodes.ILLEGAL_VALUE
        on = level == switch.on
    stage.writes.append((address, values))
    stage.voltage_setpoint_v, stage.current_setpoint_a, stage.on = volts, amps, on
    return None
