"""`sim:` the simulated hardware (with `hal.driver: sim`, or `wire: true` behind real drivers)."""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Key, dataclass_section
from .values import boolean, number_in


@dataclass(frozen=True)
class SimConfig:
    voltage_v: float = 230.0  # per phase
    ev_max_current_a: float = 32.0  # what the simulated EV draws at most
    wire: bool = False  # run wire-level simulators in-process and point the drivers at them


KEYS: dict[str, Key] = {
    "voltage_v": Key(number_in(100, 300)),
    "ev_max_current_a": Key(number_in(6, 80)),
    "wire": Key(boolean),
}

SECTION = dataclass_section("sim", KEYS, SimConfig)
