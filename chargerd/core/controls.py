"""What technicians and the CSMS do to connectors besides transactions: availability, a
stop from the station itself, unlocking, resets. Part of `Station` (a mixin); no I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .model import AvailabilityChanged, Decision, StopReason

if TYPE_CHECKING:
    from .connector import Connector


class StationControls:
    # what the station provides
    connectors: dict[int, Connector]
    _decisions: list[Decision]
    _lock: Callable[..., None]
    _remove_reservations: Callable[[Connector, float], None]

    def _stop(self, c: Connector, reason: StopReason, now: float, **kwargs: object) -> None:
        raise NotImplementedError

    def _settle(self, c: Connector, now: float) -> None:
        raise NotImplementedError

    def change_availability(self, connector: int, operative: bool, now: float) -> str:
        """Accepted, Scheduled (after the running session) or Rejected (no such connector)."""
        if connector == 0:
            targets = list(self.connectors.values())
        elif connector in self.connectors:
            targets = [self.connectors[connector]]
        else:
            return "Rejected"
        scheduled = False
        for c in targets:
            if c.transaction is not None and not operative:
                c.scheduled_operative = False
                scheduled = True
                # persisted now: a restart that ends the session must still apply it
                self._decisions.append(AvailabilityChanged(c.id, False))
            else:
                self._set_operative(c, operative, now)
        return "Scheduled" if scheduled else "Accepted"

    def local_stop(self, connector: int, now: float) -> bool:
        """End the session on `connector` from the station itself (a technician): reason
        Local. False: no session runs there."""
        c = self.connectors.get(connector)
        if c is None or c.transaction is None:
            return False
        self._stop(c, StopReason.Local, now)
        return True

    def unlock(self, connector: int, now: float) -> bool:
        """Unlock the cable; a running transaction ends first. False: no such connector."""
        c = self.connectors.get(connector)
        if c is None:
            return False
        if c.transaction is not None:
            self._stop(c, StopReason.UnlockCommand, now)  # which unlocks
        else:
            self._lock(c, False, force=True)  # try even if we think it is open
        return True

    def reset(self, hard: bool, now: float) -> None:
        """End every transaction before the station restarts."""
        reason = StopReason.HardReset if hard else StopReason.SoftReset
        for c in self.connectors.values():
            if c.transaction is not None:
                self._stop(c, reason, now)

    def reset_connector(self, connector: int, now: float, *, when_idle: bool) -> bool:
        """Reset one connector (OCPP 2.0.1 EVSE reset): its transaction ends (reason
        SoftReset) and a waiting authorization is dropped. False: `when_idle` and a
        transaction runs; it happens when that ends, where there is nothing more to do."""
        c = self.connectors[connector]
        if c.transaction is not None:
            if when_idle:
                return False
            self._stop(c, StopReason.SoftReset, now)
        c.authorization = None
        self._settle(c, now)
        return True

    def _set_operative(self, c: Connector, operative: bool, now: float) -> None:
        c.scheduled_operative = None
        if c.operative != operative:
            c.operative = operative
            self._decisions.append(AvailabilityChanged(c.id, operative))
        if not operative:
            c.authorization = None
            self._remove_reservations(c, now)
        self._settle(c, now)
