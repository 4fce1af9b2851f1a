"""Energy meter on Modbus (RTU or TCP), decoded with the register map of its model.

The model's map (hal/maps/meters/<model>.yaml) says where each value lives; this module
only reads the map's blocks and guards the energy register: it must never go backwards.
"""

from __future__ import annotations

import logging

from hal.drivers.modbus_bus import ModbusBus
from hal.interfaces import DeviceError, EventSink, MeterReading
from hal.maps.loader import MeterMap, load_meter_map

log = logging.getLogger(__name__)

# No charging point delivers 1 MWh between two reads a few seconds apart: a jump that
# large is a corrupted answer (or another meter answering), not energy.
MAX_ENERGY_JUMP_WH = 1_000_000.0


class ModbusMeter:
    """`Meter` of one connector: a Modbus meter of a mapped model at `unit` on `bus`.

    `read()` fetches the map's register blocks one request each and decodes them: word
    order, signedness, 64-bit values, scale to Wh/W/V/A/Hz; an "invalid" pattern reads
    as 0 (power, per-phase values) or None (frequency). Per-phase tuples have an entry per
    phase the map names.

    The energy register never goes backwards: a value below the last good one, a jump of
    more than `max_jump_wh`, or an invalid pattern is a glitch — logged, counted in
    `glitches`, and answered with the last good energy. A meter that does not answer
    raises DeviceError("meter <model> unit <n> on <port>: no answer"); the next read that
    works is a normal reading again.

    The bus belongs to the caller (who got it from `ModbusBus.for_*` and closes it):
    `stop()` leaves it open for the other devices on the line.
    """

    def __init__(
        self,
        connector: int,
        *,
        model: str,
        bus: ModbusBus,
        unit: int,
        max_jump_wh: float = MAX_ENERGY_JUMP_WH,
    ) -> None:
        if not 1 <= unit <= 247:
            raise ValueError(f"connector {connector}: modbus unit must be 1..247, not {unit}")
        self.connector = connector
        self.model = model
        self.unit = unit
        self.map: MeterMap = load_meter_map(model)  # ValueError naming the known models
        self.max_jump_wh = max_jump_wh
        self.glitches = 0
        self._bus = bus
        self._blocks = self.map.read_blocks()
        self._voltages = self.map.phases("voltage", "v")
        self._currents = self.map.phases("current", "a")
        self._last_energy_wh: float | None = None

    @property
    def where(self) -> str:
        """The meter as messages name it: `meter <model> unit <n> on <port>`."""
        return f"meter {self.model} unit {self.unit} on {self._bus.name}"

    # --- Meter ---------------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        # A meter reports nothing on its own: failures surface as DeviceError from read().
        return None

    async def stop(self) -> None:
        return None

    async def read(self) -> MeterReading:
        values: dict[str, float | None] = {}
        for block in self._blocks:
            try:
                registers = await self._bus.read(
                    self.map.function, block.address, block.count, self.unit
                )
            except DeviceError as exc:
                reason = getattr(exc, "reason", str(exc))
                raise DeviceError(f"{self.where}: {reason}") from exc
            values.update(block.decode(registers))
        power = values.get("power_w")
        return MeterReading(
            energy_wh=self._checked_energy(values["energy_import_wh"]),
            power_w=power if power is not None else 0.0,
            voltage_v=tuple(_or_zero(values[v.name]) for v in self._voltages),
            current_a=tuple(_or_zero(values[v.name]) for v in self._currents),
            frequency_hz=values.get("frequency_hz"),
        )

    # --- internals -----------------------------------------------------------------------

    def _checked_energy(self, energy_wh: float | None) -> float:
        last = self._last_energy_wh
        if energy_wh is None:
            if last is None:
                raise DeviceError(f"{self.where}: the energy register holds no value")
            return self._glitch("the energy register holds no value", last)
        if last is not None:
            if energy_wh < last:
                return self._glitch(f"energy went back to {energy_wh:.3f} Wh", last)
            if energy_wh - last > self.max_jump_wh:
                return self._glitch(f"energy jumped to {energy_wh:.3f} Wh", last)
        self._last_energy_wh = energy_wh
        return energy_wh

    def _glitch(self, what: str, last: float) -> float:
        self.glitches += 1
        log.warning(
            "%s (connector %d): %s; keeping %.3f Wh (glitch %d)",
            self.where,
            self.connector,
            what,
            last,
            self.glitches,
        )
        return last


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value
