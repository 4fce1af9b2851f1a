"""What the DC power drivers (infy.py over CAN, modbus_power.py over Modbus) do alike: the
book of active faults and the check of a setpoint before anything is sent.

Both drivers switch the output off when a fault appears and refuse to switch it on while one
is active; what "off" takes (a CAN frame to every module, a Modbus write) stays with them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable

from hal.interfaces import DeviceError, EventSink, FaultCleared, FaultCode, FaultRaised

log = logging.getLogger(__name__)

# Unanswered polls in a row before the power stage counts as gone (a fault).
MISSED_POLLS_FOR_SILENCE = 3


class PowerFaults:
    """The active faults of one connector's power stage, by source (a status bit, "silent").

    A source raised for the first time is logged and sent as FaultRaised; FaultCleared goes
    out when the last source of that fault code is gone. `emit` is None while the driver is
    stopped: the faults are then kept, not sent.
    """

    def __init__(self, connector: int, *, log: logging.Logger) -> None:
        self.connector = connector
        self.emit: EventSink | None = None
        self._log = log  # the driver's logger: the lines name the driver
        self._faults: dict[Hashable, tuple[FaultCode, str]] = {}

    def __bool__(self) -> bool:
        return bool(self._faults)

    @property
    def codes(self) -> set[FaultCode]:
        return {code for code, _ in self._faults.values()}

    def raise_(self, source: Hashable, code: FaultCode, text: str) -> bool:
        """Note the fault of `source`; True when it is new (then switch the output off)."""
        if source in self._faults:
            return False
        self._faults[source] = (code, text)
        self._log.warning("connector %s: %s (%s)", self.connector, text, code)
        if self.emit is not None:
            self.emit(FaultRaised(self.connector, code, text))
        return True

    def clear(self, source: Hashable) -> bool:
        """Forget the fault of `source`; True if there was one."""
        fault = self._faults.pop(source, None)
        if fault is None:
            return False
        code, text = fault
        self._log.info("connector %s: gone: %s", self.connector, text)
        if code not in self.codes and self.emit is not None:
            self.emit(FaultCleared(self.connector, code))
        return True

    def refuse_switch_on(self, what: str) -> None:
        """DeviceError naming the active faults, if there are any."""
        if self._faults:
            raise DeviceError(
                f"connector {self.connector}: {what} not switched on, active faults: "
                + "; ".join(text for _, text in self._faults.values())
            )


def check_setpoint(voltage_v: float, current_a: float) -> None:
    """ValueError for a setpoint that is not a number or is negative (0 is allowed)."""
    if not (math.isfinite(voltage_v) and math.isfinite(current_a)):
        raise ValueError(f"setpoint {voltage_v} V / {current_a} A is not a number")
    if voltage_v < 0 or current_a < 0:
        raise ValueError(f"setpoint {voltage_v} V / {current_a} A is negative")
