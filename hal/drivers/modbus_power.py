"""DC power stages (power modules, contactor boards) controlled over Modbus, by register map.

`ModbusPowerStage` follows the map of its model (hal/drivers/modbus_power_map.py: where the
setpoints, the switch, the measurements and the status bits live), so a new product is a
new map file, not new code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from hal.drivers.modbus_power_map import PowerMap, load_power_map
from hal.drivers.power_stage import MISSED_POLLS_FOR_SILENCE, PowerFaults, check_setpoint
from hal.interfaces import DeviceError, EventSink, FaultCode, PowerReading

log = logging.getLogger(__name__)


class RegisterBus(Protocol):
    """What the stage needs of a Modbus line (hal.drivers.modbus_bus.ModbusBus)."""

    async def read(self, function: int, address: int, count: int, device_id: int) -> list[int]: ...

    async def write_registers(
        self, address: int, values: Sequence[int], device_id: int
    ) -> None: ...

    async def write_coil(self, address: int, value: bool, device_id: int) -> None: ...


class ModbusPowerStage:
    """PowerModule of a power stage at Modbus unit `unit` on `bus`, by the map of `model`.

    From `start()` on, the status register is polled every `poll_interval_s`. A status
    bit of the map, or `MISSED_POLLS_FOR_SILENCE` unanswered polls in a row, is reported
    as `FaultRaised` and switches the output off; `FaultCleared` follows when the bit
    clears or the unit answers again. `switch(True)` is refused while a fault is
    active. Requests that fail raise DeviceError (from the bus).
    """

    def __init__(
        self,
        connector: int,
        *,
        model: str | PowerMap,
        bus: RegisterBus,
        unit: int,
        poll_interval_s: float = 1.0,
    ) -> None:
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s}")
        self.connector = connector
        self.map = model if isinstance(model, PowerMap) else load_power_map(model)
        self.bus = bus
        self.unit = unit
        self.poll_interval_s = poll_interval_s
        self._poll_task: asyncio.Task[None] | None = None
        self._faults = PowerFaults(connector, log=log)  # by source: bit number, "silent"
        self._missed = 0
        self._on = False

    @property
    def is_on(self) -> bool:
        """Whether the output is meant to be on (False after a fault switched it off)."""
        return self._on

    @property
    def active_faults(self) -> set[FaultCode]:
        return self._faults.codes

    # --- PowerModule -----------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        """Switch the output off (a restarted daemon may find it on) and start polling."""
        self._faults.emit = emit
        try:
            await self._write_switch(False)
        except DeviceError as exc:
            log.warning(
                "connector %s: power stage not switched off at start: %s", self.connector, exc
            )
        await self.poll()
        self._poll_task = asyncio.get_running_loop().create_task(
            self._poll_forever(), name=f"modbus-power-{self.connector}"
        )

    async def stop(self) -> None:
        """Stop polling and switch the output off."""
        if self._poll_task is not None:
            self._poll_task.cancel()
            try:
                await self._poll_task
            except asyncio.CancelledError:
                pass
            self._poll_task = None
        self._on = False
        try:
            await self._write_switch(False)
        except DeviceError as exc:
            log.warning(
                "connector %s: power stage not switched off at stop: %s", self.connector, exc
            )
        self._faults.emit = None

    async def switch(self, on: bool) -> None:
        if on:
            self._faults.refuse_switch_on("power stage")
        self._on = on
        await self._write_switch(on)

    async def set_output(self, voltage_v: float, current_a: float) -> None:
        """Write the voltage and current setpoints (ValueError beyond the map's limits)."""
        check_setpoint(voltage_v, current_a)
        limit_v, limit_a = self.map.max_voltage_v, self.map.max_current_a
        if limit_v is not None and voltage_v > limit_v:
            raise ValueError(f"{voltage_v} V above the {self.map.model} limit of {limit_v:g} V")
        if limit_a is not None and current_a > limit_a:
            raise ValueError(f"{current_a} A above the {self.map.model} limit of {limit_a:g} A")
        for register, number in (
            (self.map.voltage_setpoint, voltage_v),
            (self.map.current_setpoint, current_a),
        ):
            await self.bus.write_registers(register.address, register.encode(number), self.unit)

    async def read(self) -> PowerReading:
        """The measured output voltage and current."""
        voltage, current = self.map.voltage, self.map.current
        start = min(voltage.address, current.address)
        end = max(voltage.end, current.end)
        function = self.map.measurement_function
        if end - start == voltage.count + current.count:  # neighbours: one request
            registers = await self.bus.read(function, start, end - start, self.unit)
            parts = [registers[r.address - start : r.end - start] for r in (voltage, current)]
        else:
            parts = [
                await self.bus.read(function, r.address, r.count, self.unit)
                for r in (voltage, current)
            ]
        volts, amps = voltage.decode(parts[0]), current.decode(parts[1])
        if volts is None or amps is None:
            raise DeviceError(
                f"connector {self.connector}: power stage unit {self.unit} reports no value"
            )
        return PowerReading(voltage_v=volts, current_a=amps)

    # --- polling and faults --------------------------------------------------------------

    async def poll(self) -> None:
        """Read the status register once; report and react to what changed."""
        status = self.map.status
        try:
            (word,) = await self.bus.read(status.function, status.address, 1, self.unit)
        except DeviceError as exc:
            self._missed += 1
            log.debug("connector %s: power stage poll failed: %s", self.connector, exc)
            if self._missed >= MISSED_POLLS_FOR_SILENCE:
                await self._raise("silent", FaultCode.InternalError, "does not answer")
            return
        self._missed = 0
        if self._faults.clear("silent") and not self._on:
            # It may have kept its output on while we could not reach it.
            await self._write_switch(False)
        for bit, (code, info) in status.bits.items():
            if word >> bit & 1:
                await self._raise(str(bit), code, info)
            else:
                self._faults.clear(str(bit))

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.poll()
            except Exception:  # keep polling whatever happens: the poll sees the faults
                log.exception("connector %s: power stage poll failed", self.connector)

    async def _raise(self, source: str, code: FaultCode, info: str) -> None:
        if not self._faults.raise_(source, code, f"power stage unit {self.unit}: {info}"):
            return
        self._on = False
        try:
            await self._write_switch(False)
        except DeviceError as exc:
            log.warning("connector %s: power stage not switched off: %s", self.connector, exc)

    async def _write_switch(self, on: bool) -> None:
        switch = self.map.switch
        if switch.kind == "coil":
            await self.bus.write_coil(switch.address, on, self.unit)
        else:
            level = switch.on if on else switch.off
            await self.bus.write_registers(switch.address, [level], self.unit)
