"""Simulated hardware (driver name "sim"): same interfaces as the real drivers."""

from hal.sim.controller import SimController
from hal.sim.meter import SimMeter
from hal.sim.station import SimulatedStation

__all__ = ["SimController", "SimMeter", "SimulatedStation"]
