"""The heartbeat supervision of a simulated OpenEVSE (`$SY` / `$GY`), as the firmware does
it: after `$SY interval fallback` a pulse (`$SY`) is due every interval; a missed one drops
the current to the fallback and refuses pulses until `$SY 165` acknowledges the miss."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hal.drivers.rapi_protocol import HEARTBEAT_ACK_COOKIE

# trigger values of `$SY` / `$GY` replies
NEVER_MISSED = 0
MISSED_ACKED = 1
MISSED_NOT_ACKED = 2


class HeartbeatSupervision:
    def __init__(self, expired: Callable[[], None]) -> None:
        self.interval_s = 0
        self.fallback_a = 0
        self.trigger = NEVER_MISSED
        self._expired = expired  # the device's reaction: the current falls back
        self._timer: asyncio.TimerHandle | None = None

    @property
    def state(self) -> str:
        """The `$SY` / `$GY` reply text."""
        return f"{self.interval_s} {self.fallback_a} {self.trigger}"

    def command(self, args: tuple[str, ...]) -> tuple[bool, bool]:
        """`$SY` with `args`: (answered OK, a missed pulse acknowledged now)."""
        ok, acknowledged = True, False
        if not args:  # a pulse; NK while a missed pulse is not acknowledged
            ok = self.trigger != MISSED_NOT_ACKED
        elif len(args) == 1:
            ok = acknowledged = (
                args[0] == str(HEARTBEAT_ACK_COOKIE) and self.trigger == MISSED_NOT_ACKED
            )
            if acknowledged:
                self.trigger = MISSED_ACKED
        elif len(args) == 2:
            self.interval_s, self.fallback_a = int(args[0]), int(args[1])
        else:
            ok = False
        self.arm()
        return ok, acknowledged

    def miss(self) -> None:
        """The interval ran out: flag the miss and wait a new interval."""
        self.trigger = MISSED_NOT_ACKED
        self.arm()

    def reboot(self) -> None:
        self.trigger = NEVER_MISSED
        self.arm()

    def arm(self) -> None:
        self.cancel()
        if self.interval_s > 0:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._expired)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
