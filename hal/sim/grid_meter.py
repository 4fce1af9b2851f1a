"""Simulated grid meter: the building's whole draw at the grid connection (`site.meter:
{driver: sim}`).

Its current per phase is the rest of the building's load (`house_load_a`, set with
`chargerctl sim house-load AMPS`) plus what the simulated EVs draw now, as a real meter at
the grid connection sees the chargers too. `fail()` makes `read()` raise DeviceError until
`restore()`, as a meter whose bus link is cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from hal.interfaces import DeviceError, EventSink, MeterReading
from hal.sim.controller import SimController

FREQUENCY_HZ = 50.0
PHASES = 3  # a grid connection is three-phase; each EV is counted on every phase it uses


class SimGridMeter:
    """Meter at the grid connection, fed by the simulated controllers' currents."""

    def __init__(
        self,
        controllers: Iterable[SimController],
        *,
        voltage_v: float = 230.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._controllers = list(controllers)
        self.voltage_v = voltage_v
        self.house_load_a = 0.0
        self.dead = False
        self._clock = clock
        self._energy_wh = 0.0
        self._last_t = clock()

    def set_house_load(self, amps: float) -> None:
        if amps < 0:
            raise ValueError(f"house load {amps} A: must be 0 or more")
        self._integrate()
        self.house_load_a = float(amps)

    def fail(self) -> None:
        self.dead = True

    def restore(self) -> None:
        self.dead = False

    @property
    def current_a(self) -> float:
        """Per phase: the house load plus every simulated EV's draw (conservatively on each
        phase, whether the EV charges on one or three)."""
        return self.house_load_a + sum(c.current_a for c in self._controllers)

    # --- Meter ---------------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def read(self) -> MeterReading:
        self._integrate()
        if self.dead:
            raise DeviceError("sim grid meter: no answer (grid-meter-fail)")
        amps = self.current_a
        return MeterReading(
            energy_wh=self._energy_wh,
            power_w=amps * self.voltage_v * PHASES,
            voltage_v=(self.voltage_v,) * PHASES,
            current_a=(amps,) * PHASES,
            frequency_hz=FREQUENCY_HZ,
        )

    def _integrate(self) -> None:
        """The energy register, at the current of the last reading (good enough for a
        register nobody bills: the balancer uses the current)."""
        now = self._clock()
        self._energy_wh += self.current_a * self.voltage_v * PHASES * (now - self._last_t) / 3600
        self._last_t = now
