"""Drivers chosen by name (the `hal.driver` / per-device `driver` config values).

A driver is one entry of `_BUILDERS`: a function from the config to the devices of every
connector. Builders import their driver lazily, so the daemon only loads (and needs the
libraries of) the driver it runs, and this module stays cheap to import for config checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hal.interfaces import ConnectorHardware

if TYPE_CHECKING:
    from typing import TypeAlias

    from chargerd.config import Config
    from hal.sim.station import SimulatedStation

    # The devices per connector, and the simulated station when the driver is "sim" (so
    # the daemon can route `chargerctl sim ...` to it); None for real hardware.
    Hardware: TypeAlias = tuple[list[ConnectorHardware], SimulatedStation | None]


def _build_sim(config: Config) -> Hardware:
    from hal.sim.station import SimulatedStation

    station = SimulatedStation.from_config(config)
    return station.hardware(), station


_BUILDERS: dict[str, Callable[[Config], Hardware]] = {
    "sim": _build_sim,
}

DRIVER_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build_hardware(config: Config) -> tuple[list[ConnectorHardware], SimulatedStation | None]:
    """Build the devices of every connector with the driver named by `config.hal_driver`."""
    try:
        builder = _BUILDERS[config.hal_driver]
    except KeyError:
        known = ", ".join(DRIVER_NAMES)
        raise ValueError(f"unknown hal.driver {config.hal_driver!r}; known: {known}") from None
    return builder(config)
