"""What an OpenEVSE controller's reports and silences mean for its connector, without I/O.

- `ReportedState`: the evsestate and pilot the controller reports (`$AT`, `GS`), turned
  into HAL events: each pilot state once, fault evsestates raised and cleared.
- `Health`: whether the controller can be trusted to hold the EV off, and why not. One
  InternalError fault stands for every cause (no answer, a refused hold-off); it clears
  when the last cause goes.
"""

from __future__ import annotations

import logging

from hal.drivers.rapi_protocol import FAULT_BY_STATE, PILOT_BY_CODE
from hal.interfaces import (
    EventSink,
    FaultCleared,
    FaultCode,
    FaultRaised,
    PilotChanged,
    PilotState,
)

log = logging.getLogger("hal.drivers.rapi")

FAILURES_BEFORE_FAULT = 3  # unanswered requests in a row before a running controller is gone

# Why the connector is faulted with InternalError.
LINK = "link"
HOLD_OFF = "hold-off"


class ReportedState:
    """The controller's last reported evsestate and pilot; changes go out as HAL events."""

    def __init__(self, connector: int, send: EventSink) -> None:
        self.connector = connector
        self.pilot: PilotState | None = None
        self.evse_state: int | None = None
        self._send = send
        self._fault: FaultCode | None = None

    def apply(self, evse: int, pilot_code: int | None) -> None:
        """`pilot_code` None: firmware that does not tell it apart (the evsestate may)."""
        self.evse_state = evse
        fault = FAULT_BY_STATE.get(evse)
        code = fault.code if fault else None
        if code != self._fault:
            if self._fault is not None:
                self._send(FaultCleared(self.connector, self._fault))
            if fault is not None:
                info = f"EVSE controller state {evse:02X}: {fault.description}"
                self._send(FaultRaised(self.connector, fault.code, info))
            self._fault = code
        pilot = PILOT_BY_CODE.get(pilot_code if pilot_code is not None else evse)
        if pilot is not None and pilot != self.pilot:
            self.pilot = pilot
            self._send(PilotChanged(self.connector, pilot))


class Health:
    """Link health and hold-off confidence of one controller."""

    def __init__(self, connector: int, port: str, send: EventSink) -> None:
        self.connector = connector
        self.port = port
        self.safe = False  # the hold-off was confirmed since the controller was (re)found
        self.failures = 0  # unanswered requests in a row
        self._send = send
        self._faults: dict[str, str] = {}  # cause → info

    @property
    def link_down(self) -> bool:
        return LINK in self._faults

    def raise_fault(self, cause: str, info: str) -> None:
        if cause in self._faults:
            return
        first = not self._faults
        self._faults[cause] = info
        log.error("connector %d: %s on %s", self.connector, info, self.port)
        if first:
            self._send(FaultRaised(self.connector, FaultCode.InternalError, info))

    def clear_fault(self, cause: str) -> None:
        if self._faults.pop(cause, None) is None:
            return
        log.warning("connector %d: EVSE controller usable again (%s)", self.connector, cause)
        if not self._faults:
            self._send(FaultCleared(self.connector, FaultCode.InternalError))

    def held_off(self) -> None:
        """The hold-off is confirmed: the controller answers and the EV cannot draw."""
        self.safe = True
        self.clear_fault(HOLD_OFF)
        self.clear_fault(LINK)

    def answered(self) -> bool:
        """A reply came; True when that ends a link fault (then resynchronise)."""
        self.failures = 0
        if self.link_down and self.safe:
            self.clear_fault(LINK)
            return True
        return False

    def unanswered(self, reason: str = "", *, at_once: bool = False) -> None:
        self.failures += 1
        # Until the hold-off is confirmed, the EV may be able to draw: no grace.
        if at_once or not self.safe or self.failures >= FAILURES_BEFORE_FAULT:
            info = "EVSE controller not answering" + (f": {reason}" if reason else "")
            self.raise_fault(LINK, info)
