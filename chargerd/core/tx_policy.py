"""The facts a transaction may start or end at, and the policy over them (see tx_points.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TxPoint(StrEnum):
    """A version-neutral fact of a connector that a transaction may start or end at."""

    BAY_OCCUPIED = "bay occupied"  # the parking bay sensor sees a vehicle
    EV_CONNECTED = "EV connected"
    AUTHORIZED = "authorized"  # a driver (card, CSMS, free charging) allowed the session
    POWER_PATH_CLOSED = "power path closed"  # authorized and connected: energy is offered
    ENERGY_FLOWING = "energy flowing"


P = TxPoint


@dataclass(frozen=True)
class TxPolicy:
    """Start at the first of `start`; end when a reached point of `stop` is lost.

    The default is what OCPP 1.6 does: a transaction starts once the EV is connected and
    the driver authorized, and the driver ends it (EV_CONNECTED as a stop point is also
    CoreSettings.stop_on_ev_disconnect, which applies whatever the policy)."""

    start: frozenset[TxPoint] = frozenset({P.POWER_PATH_CLOSED})
    stop: frozenset[TxPoint] = frozenset({P.AUTHORIZED})

    @property
    def powers_before_start(self) -> bool:
        """Energy is offered to an authorized, connected EV before its transaction starts
        (only when the transaction waits for the energy to flow)."""
        return not self.start & {P.EV_CONNECTED, P.AUTHORIZED, P.POWER_PATH_CLOSED}

    @property
    def deauthorizing_stops(self) -> bool:
        """Deauthorization ends the transaction (it opens the power path, so it also ends
        one that stops at the power path or the energy transfer)."""
        return bool(self.stop & {P.AUTHORIZED, P.POWER_PATH_CLOSED, P.ENERGY_FLOWING})
