"""The simulated station: a controller and a meter per connector, driven by `chargerctl sim`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hal.interfaces import ConnectorHardware, FaultCode
from hal.sim.controller import SimController
from hal.sim.grid_meter import SimGridMeter
from hal.sim.meter import SimMeter

if TYPE_CHECKING:
    from hal.options import StationSetup


class SimConnector(Protocol):
    """What the simulation needs of a connector."""

    @property
    def id(self) -> int: ...
    @property
    def phases(self) -> int: ...


class SimPhysics(Protocol):
    """The simulated mains and EV."""

    @property
    def voltage_v(self) -> float: ...  # per phase
    @property
    def ev_max_current_a(self) -> float: ...  # what the simulated EV draws at most


class SimulatedStation:
    """Simulated devices of every connector, with the commands of `chargerctl sim`.

    Arguments come from a control socket, so every method checks them and raises
    ValueError with a message fit to show to the user.
    """

    def __init__(
        self,
        connectors: Sequence[SimConnector],
        sim: SimPhysics,
        state_dir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controllers: dict[int, SimController] = {}
        self.meters: dict[int, SimMeter] = {}
        for c in connectors:
            controller = SimController(c.id, ev_max_current_a=sim.ev_max_current_a)
            self.controllers[c.id] = controller
            self.meters[c.id] = SimMeter(
                controller, state_dir, voltage_v=sim.voltage_v, phases=c.phases, clock=clock
            )
        # the meter at the grid connection (site.meter: {driver: sim}) sees every EV
        self.grid_meter = SimGridMeter(self.controllers.values(), voltage_v=sim.voltage_v)

    @classmethod
    def from_config(
        cls, config: StationSetup, *, clock: Callable[[], float] = time.monotonic
    ) -> SimulatedStation:
        return cls(config.connectors, config.sim, config.storage_dir, clock=clock)

    def hardware(self) -> list[ConnectorHardware]:
        """The devices per connector, in connector order, as the daemon consumes them."""
        return [
            ConnectorHardware(connector=n, controller=self.controllers[n], meter=self.meters[n])
            for n in sorted(self.controllers)
        ]

    def controller(self, n: int) -> SimController:
        self._check(n)
        return self.controllers[n]

    def meter(self, n: int) -> SimMeter:
        self._check(n)
        return self.meters[n]

    # --- `chargerctl sim ...` ------------------------------------------------------------

    def plug(self, n: int) -> None:
        self.controller(n).plug()

    def unplug(self, n: int) -> None:
        self.controller(n).unplug()

    def ev_pause(self, n: int) -> None:
        self.controller(n).ev_pause()

    def ev_resume(self, n: int) -> None:
        self.controller(n).ev_resume()

    def fault(self, n: int, code: str, info: str = "") -> None:
        controller = self.controller(n)
        try:
            fault_code = FaultCode(code)
        except ValueError:
            allowed = ", ".join(c.value for c in FaultCode)
            raise ValueError(f"unknown fault code {code!r}; allowed: {allowed}") from None
        controller.fault(fault_code, info)

    def clear(self, n: int) -> None:
        self.controller(n).clear()

    def tamper(self) -> None:
        self.controller(min(self.controllers)).tamper()

    def bay(self, n: int, state: str) -> None:
        if state not in ("occupied", "free"):
            raise ValueError(f"bay state {state!r}; allowed: occupied, free")
        self.controller(n).bay(state == "occupied")

    def meter_fail(self, n: int) -> None:
        self.meter(n).meter_fail()

    def meter_restore(self, n: int) -> None:
        self.meter(n).meter_restore()

    def ev_max(self, n: int, amps: str | float) -> None:
        self.controller(n).set_ev_max(_amps(amps))

    def house_load(self, amps: str | float) -> None:
        self.grid_meter.set_house_load(_amps(amps))

    def grid_meter_fail(self) -> None:
        self.grid_meter.fail()

    def grid_meter_restore(self) -> None:
        self.grid_meter.restore()

    # --- internals -----------------------------------------------------------------------

    def _check(self, n: int) -> None:
        if n in self.controllers:
            return
        ids = sorted(self.controllers)
        if ids == list(range(1, len(ids) + 1)):
            have = f"1..{len(ids)}"
        else:
            have = ", ".join(str(i) for i in ids)
        raise ValueError(f"no connector {n}; this station has {have}")


def _amps(value: str | float) -> float:
    try:
        amps = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a current; give amperes, e.g. 10") from None
    if not 0 <= amps <= 1000:
        raise ValueError(f"{value} A: allowed 0..1000")
    return amps
