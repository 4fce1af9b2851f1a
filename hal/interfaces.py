"""Hardware roles: one small interface per device kind, and the events hardware reports.

The HAL knows wires and devices, nothing of OCPP. Drivers and simulators implement
the same protocols, so the daemon cannot tell them apart. Every method is async and
must never block the event loop (blocking library calls run off-loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class PilotState(StrEnum):
    """IEC 61851-1 control pilot states."""

    A = "A"  # no vehicle
    B = "B"  # vehicle connected, not charging
    C = "C"  # vehicle requests energy
    D = "D"  # charging with ventilation
    E = "E"  # error: short / no power
    F = "F"  # EVSE not available


class FaultCode(StrEnum):
    """Hardware fault vocabulary (the OCPP ChargePointErrorCode names, minus NoError)."""

    ConnectorLockFailure = "ConnectorLockFailure"
    EVCommunicationError = "EVCommunicationError"
    GroundFailure = "GroundFailure"
    HighTemperature = "HighTemperature"
    InternalError = "InternalError"
    LocalListConflict = "LocalListConflict"
    OtherError = "OtherError"
    OverCurrentFailure = "OverCurrentFailure"
    OverVoltage = "OverVoltage"
    PowerMeterFailure = "PowerMeterFailure"
    PowerSwitchFailure = "PowerSwitchFailure"
    ReaderFailure = "ReaderFailure"
    ResetFailure = "ResetFailure"
    UnderVoltage = "UnderVoltage"
    WeakSignal = "WeakSignal"


# --- events reported by hardware -------------------------------------------------------


@dataclass(frozen=True)
class PilotChanged:
    connector: int
    state: PilotState


@dataclass(frozen=True)
class FaultRaised:
    connector: int
    code: FaultCode
    info: str = ""


@dataclass(frozen=True)
class FaultCleared:
    connector: int
    code: FaultCode | None = None  # None: every fault of this connector is gone


@dataclass(frozen=True)
class TagPresented:
    """An RFID card at the reader; connector None when the reader serves the whole station."""

    id_tag: str
    connector: int | None = None


@dataclass(frozen=True)
class BayChanged:
    """A parking bay sensor (optional hardware) sees a vehicle in the connector's bay, or
    no longer does."""

    connector: int
    occupied: bool


@dataclass(frozen=True)
class TamperDetected:
    """The enclosure's tamper switch (optional hardware) was opened."""

    connector: int
    info: str = ""


HalEvent = PilotChanged | FaultRaised | FaultCleared | TagPresented | BayChanged | TamperDetected
EventSink = Callable[[HalEvent], None]


@dataclass(frozen=True)
class MeterReading:
    """One snapshot of an energy meter. Per-phase tuples have one entry per phase."""

    energy_wh: float  # active energy import register, never decreasing
    power_w: float = 0.0
    voltage_v: tuple[float, ...] = field(default_factory=tuple)
    current_a: tuple[float, ...] = field(default_factory=tuple)
    frequency_hz: float | None = None
    # The EV's state of charge, when something reports it (the simulated EV; later
    # ISO 15118 or a DC module); None: not known, and the SoC measurand is left out.
    soc_pct: float | None = None


@dataclass(frozen=True)
class PowerReading:
    voltage_v: float
    current_a: float


class DeviceError(Exception):
    """A device did not answer or answered nonsense. The message says which and why."""


# --- roles -------------------------------------------------------------------------------


@runtime_checkable
class EvseController(Protocol):
    """Control pilot / proximity, PWM offer, contactor and cable lock of one connector."""

    async def start(self, emit: EventSink) -> None:
        """Open the device; report pilot changes and faults through `emit` from now on.

        The current pilot state is reported once right after start."""
        ...

    async def stop(self) -> None: ...

    async def offer_current(self, amps: float) -> None:
        """Offer `amps` to the EV over the pilot PWM; 0 means offer nothing (EV held off)."""
        ...

    async def set_contactor(self, closed: bool) -> None: ...

    async def set_lock(self, locked: bool) -> bool:
        """Lock or unlock the cable; False if the lock did not move (or there is none)."""
        ...

    @property
    def has_lock(self) -> bool:
        """Whether there is a cable lock at all (a tethered cable, or a controller built
        without one, has none: OCPP then answers an unlock request accordingly)."""
        ...


@runtime_checkable
class Meter(Protocol):
    """An energy meter."""

    async def start(self, emit: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def read(self) -> MeterReading:
        """The present values; raises DeviceError when the meter does not answer."""
        ...


@runtime_checkable
class PowerModule(Protocol):
    """DC power electronics: setpoint, on/off, readings."""

    async def start(self, emit: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def switch(self, on: bool) -> None: ...

    async def set_output(self, voltage_v: float, current_a: float) -> None: ...

    async def read(self) -> PowerReading: ...


@runtime_checkable
class CardReader(Protocol):
    """An RFID/NFC card reader: reports `TagPresented` once per presentation of a card.

    A dead or absent reader is a device problem that must not stop charging: the reader
    reports it as `FaultRaised(connector, ReaderFailure)` (and `FaultCleared` when it
    answers again) and keeps trying on its own."""

    async def start(self, emit: EventSink) -> None:
        """Begin reading. Does not raise for a reader that cannot be opened or does not
        answer: that is reported through `emit` as ReaderFailure."""
        ...

    async def stop(self) -> None: ...


@runtime_checkable
class Display(Protocol):
    """A screen the driver reads (a connector's, or the station's): shows text lines.

    The display decides how lines fit (wrapping, paging a small screen); `clear()` gives
    the screen back to whatever showed there before (blank, or the firmware's own view)."""

    async def start(self, emit: EventSink) -> None: ...

    async def stop(self) -> None: ...

    async def show(self, lines: list[str]) -> None:
        """Show these lines until the next show() or clear(); raises DeviceError when the
        display cannot be reached."""
        ...

    async def clear(self) -> None: ...


@dataclass
class ConnectorHardware:
    """The devices behind one connector."""

    connector: int
    controller: EvseController
    meter: Meter
    power: PowerModule | None = None
    dc_target_voltage_v: float | None = None  # DC output voltage until ISO 15118 tells it
    reader: CardReader | None = None  # cards read here start and stop this connector's sessions
    display: Display | None = None  # the driver-facing screen of this connector
