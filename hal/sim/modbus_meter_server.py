"""Simulated Modbus energy meters on a real wire: TCP on 127.0.0.1, or RTU on a pty.

A `ModbusMeterServer` is one Modbus line (or TCP endpoint) with any number of meters on
it, each a unit id with a shipped register map and a live value source (a SimMeter, any
object with `async read() -> MeterReading`, a callable, or a fixed MeterReading). Every
request reads the source and encodes the answer through the map (`RegisterValue.encode`),
so the driver under test decodes what the simulated EV really draws.

It runs on pymodbus's own server (framing, PDUs, exception answers): each meter is a
`SimDevice` whose action fills its registers when they are read. For RTU the server
serves the master side of a pseudo-terminal; drivers open `.port`, the slave path.

Faults: `go_silent(unit)` makes a unit stop answering (so does a SimMeter after
`meter_fail()`), `set_energy_glitch(unit, wh)` puts a wrong energy in its next answer.
A unit nobody added never answers, as on a real line.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol, TypeAlias, cast

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.interfaces import DeviceError, MeterReading
from hal.maps.loader import MeterMap, load_meter_map
from hal.sim.modbus_line import ModbusLine


class ReadableMeter(Protocol):
    """Anything with the Meter's `read()`: a SimMeter, or a driver to mirror."""

    async def read(self) -> MeterReading: ...


MeterSource: TypeAlias = (
    MeterReading | ReadableMeter | Callable[[], MeterReading | Awaitable[MeterReading]]
)


@dataclass
class SimulatedUnit:
    """One meter on the simulated line."""

    unit: int
    map: MeterMap
    source: MeterSource
    silent: bool = False
    energy_glitch_wh: float | None = None
    requests: int = 0  # requests addressed to this unit, answered or not

    async def reading(self) -> MeterReading:
        source = self.source
        if isinstance(source, MeterReading):
            return source
        if hasattr(source, "read"):
            return await cast(ReadableMeter, source).read()
        result = cast(Callable[[], Any], source)()
        if inspect.isawaitable(result):
            result = await result
        return cast(MeterReading, result)


class ModbusMeterServer:
    """Simulated meters on one Modbus line (`transport="rtu"`) or TCP endpoint ("tcp").

    Add meters with `add_meter()` before `start()`. After `start()`, `.port` is where a
    driver connects: the TCP port on `host` (a free one when `port=0`), or the path of the
    pty slave for RTU. `answer_delay_s` makes every answer take that long (to show that
    requests on a line never overlap); `max_in_flight` is the most requests the server
    ever handled at once, and `SimulatedUnit.requests` counts requests per unit.
    """

    def __init__(
        self,
        transport: Literal["tcp", "rtu"] = "tcp",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        answer_delay_s: float = 0.0,
    ) -> None:
        self._line = ModbusLine(transport, host=host, port=port, name="modbus meter server")
        self.answer_delay_s = answer_delay_s
        self.units: dict[int, SimulatedUnit] = {}
        self.max_in_flight = 0
        self._in_flight = 0

    @property
    def port(self) -> int | str:
        """TCP port number, or the pty slave path for RTU (after start())."""
        return self._line.port

    @property
    def transport(self) -> str:
        return self._line.transport

    # --- the meters ----------------------------------------------------------------------

    def add_meter(self, unit: int, model: str, source: MeterSource) -> None:
        """Put a meter of `model` at `unit`, answering with the values of `source`."""
        if self._line.started:
            raise RuntimeError("modbus meter server: add meters before start()")
        if not 1 <= unit <= 247:
            raise ValueError(f"modbus meter server: unit must be 1..247, not {unit}")
        if unit in self.units:
            raise ValueError(f"modbus meter server: unit {unit} is already on the line")
        if not (isinstance(source, MeterReading) or hasattr(source, "read") or callable(source)):
            raise TypeError(
                "modbus meter server: source must be a MeterReading, an object with "
                f"async read(), or a callable; not {type(source).__name__}"
            )
        self.units[unit] = SimulatedUnit(unit, load_meter_map(model), source)

    def go_silent(self, unit: int, silent: bool = True) -> None:
        """Unit `unit` stops answering (True) or answers again (False)."""
        self._unit(unit).silent = silent

    def set_energy_glitch(self, unit: int, energy_wh: float) -> None:
        """The next answer of `unit` that holds its energy register reports `energy_wh`."""
        self._unit(unit).energy_glitch_wh = energy_wh

    def _unit(self, unit: int) -> SimulatedUnit:
        try:
            return self.units[unit]
        except KeyError:
            raise ValueError(f"modbus meter server: no meter at unit {unit}") from None

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving (inside the running event loop)."""
        await self._line.start([self._device(u) for u in self.units.values()])

    async def stop(self) -> None:
        """Stop serving; an RTU line's pty disappears (drivers on it see the port close)."""
        await self._line.stop()

    # --- answering -----------------------------------------------------------------------

    def _device(self, unit: SimulatedUnit) -> SimDevice:
        blocks = [
            SimData(b.address, count=b.count, values=0, datatype=DataType.REGISTERS)
            for b in unit.map.read_blocks()
        ]
        return SimDevice(id=unit.unit, simdata=blocks, action=partial(self._answer, unit))

    async def _answer(
        self,
        unit: SimulatedUnit,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus SimDevice action: fill the requested registers from the source now."""
        unit.requests += 1
        if unit.silent:
            raise NoSuchIdException(f"unit {unit.unit} is silent")
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.answer_delay_s > 0:
                await asyncio.sleep(self.answer_delay_s)
            if set_values is not None or function_code != unit.map.function:
                return ExcCodes.ILLEGAL_FUNCTION  # a meter's values are read-only
            try:
                reading = await unit.reading()
            except DeviceError as exc:  # e.g. SimMeter.meter_fail(): dead on the wire too
                raise NoSuchIdException(f"unit {unit.unit}: {exc}") from exc
            end = address + count
            for value in unit.map.values.values():
                if value.end <= address or value.address >= end:
                    continue
                number = _value_of(reading, value.name)
                if value.name == "energy_import_wh" and unit.energy_glitch_wh is not None:
                    number, unit.energy_glitch_wh = unit.energy_glitch_wh, None
                offset = value.address - start_address
                registers[offset : offset + value.count] = value.encode(number)
            return None
        finally:
            self._in_flight -= 1


def _value_of(reading: MeterReading, name: str) -> float | None:
    """The value a map entry names, from a reading (None: the reading has no such value)."""
    if name == "energy_import_wh":
        return reading.energy_wh
    if name == "power_w":
        return reading.power_w
    if name == "frequency_hz":
        return reading.frequency_hz
    quantity, phase, _unit = name.split("_")  # e.g. voltage_l2_v
    per_phase = reading.voltage_v if quantity == "voltage" else reading.current_a
    index = int(phase[1:]) - 1
    value = per_phase[index] if index < len(per_phase) else None
    return value if value is None or math.isfinite(value) else None
