"""What a simulated OpenEVSE counts of a charging session: the energy (`$GU`: Ws of the
session, Wh in total) and the seconds since charging began (the elapsed field of `$GS`).
The energy is the EV's current at the device's nominal voltage, integrated every time the
current is about to change (the SimController's flow listener) and when `$GU` asks."""

from __future__ import annotations

import time


class SessionEnergy:
    def __init__(self) -> None:
        self.session_ws = 0.0
        self.total_wh = 0.0
        self._flow_t = time.monotonic()
        self._charge_since: float | None = None

    def flowed(self, current_a: float, voltage_v: float) -> None:
        """`current_a` at `voltage_v` has flowed since the last call (and may change now)."""
        now = time.monotonic()
        ws = current_a * voltage_v * (now - self._flow_t)
        self._flow_t = now
        self.session_ws += ws
        self.total_wh += ws / 3600.0

    def charging(self) -> None:
        """The relay is closed in C: the elapsed time runs from the first such moment."""
        if self._charge_since is None:
            self._charge_since = time.monotonic()

    def elapsed_s(self) -> int:
        return 0 if self._charge_since is None else int(time.monotonic() - self._charge_since)

    def new_session(self) -> None:
        """The EV left: the next one starts a new session (the total keeps counting)."""
        self.session_ws = 0.0
        self._charge_since = None
