"""When a transaction starts and when it ends: the station's facts and the policy over them.

A connector has a few version-neutral facts: the parking bay is occupied, the EV is
connected, a driver is authorized, the power path is closed (authorized and connected: the
station offers energy), energy flows. The adapter configures a `TxPolicy` (OCPP 2.0.1
TxStartPoint / TxStopPoint; OCPP 1.6 always uses the default): a transaction starts when
the first of its start points becomes true, and ends when a stop point it has reached stops
being true. Part of `Station` (a mixin); no I/O, time is an argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .connector import DRAWING, MIN_OFFER_A, Connector
from .model import (
    Authorization,
    CoreSettings,
    Decision,
    OfferCurrent,
    StopReason,
    SwitchContactor,
    TransactionAuthorized,
    TransactionDeauthorized,
)
from .tx_policy import TxPoint, TxPolicy

P = TxPoint


# the reason a transaction ends when it loses this stop point (most telling first)
LOST: list[tuple[TxPoint, StopReason]] = [
    (P.EV_CONNECTED, StopReason.EVDisconnected),
    (P.BAY_OCCUPIED, StopReason.EVDeparted),
    (P.POWER_PATH_CLOSED, StopReason.EVDisconnected),  # deauthorization ends it itself
    (P.ENERGY_FLOWING, StopReason.StoppedByEV),
]


def facts(c: Connector) -> frozenset[TxPoint]:
    """The connector's facts now."""
    tx = c.transaction
    authorized = c.authorization is not None or (tx is not None and tx.authorized)
    found = set()
    if c.bay_occupied:
        found.add(P.BAY_OCCUPIED)
    if c.plugged:
        found.add(P.EV_CONNECTED)
    if authorized:
        found.add(P.AUTHORIZED)
    if authorized and c.plugged and not c.faults:
        found.add(P.POWER_PATH_CLOSED)
    if c.contactor_closed and c.pilot in DRAWING:
        found.add(P.ENERGY_FLOWING)
    return frozenset(found)


def start_cause(
    policy: TxPolicy,
    before: frozenset[TxPoint],
    now: frozenset[TxPoint],
) -> TxPoint | None:
    """The start point that begins a transaction now, or None.

    The EV and the bay start one when they arrive (not when a transaction ended with them
    still there); an authorization waits for its connector, so it counts as long as it is
    there. The power path closes when the later of the EV and the authorization comes:
    that one is the cause."""
    arrived = now - before
    for point in (P.BAY_OCCUPIED, P.EV_CONNECTED):
        if point in policy.start and point in arrived:
            return point
    if P.AUTHORIZED in policy.start and P.AUTHORIZED in now:
        return P.AUTHORIZED
    if P.POWER_PATH_CLOSED in policy.start and P.POWER_PATH_CLOSED in now:
        return P.EV_CONNECTED if P.EV_CONNECTED in arrived else P.AUTHORIZED
    if P.ENERGY_FLOWING in policy.start and P.ENERGY_FLOWING in now and P.AUTHORIZED in now:
        return P.ENERGY_FLOWING
    return None


@dataclass
class TxFacts:
    """What the policy remembers of one connector between passes."""

    seen: frozenset[TxPoint] = frozenset()
    reached: set[TxPoint] = field(default_factory=set)  # by its running transaction


class TransactionPoints:
    # what the station provides
    settings: CoreSettings
    connectors: dict[int, Connector]
    _decisions: list[Decision]
    _tx_facts: dict[int, TxFacts]
    _can_start: Callable[[Connector], bool]
    _start: Callable[[Connector, float, TxPoint], None]
    _lock: Callable[..., None]

    def _stop(self, c: Connector, reason: StopReason, now: float, **kwargs: object) -> None:
        raise NotImplementedError

    def _settle(self, c: Connector, now: float) -> None:
        raise NotImplementedError

    def bay_changed(self, connector: int, occupied: bool, now: float) -> None:
        """The parking bay sensor of `connector` (a HAL input)."""
        c = self.connectors.get(connector)
        if c is None or c.bay_occupied == occupied:
            return
        c.bay_occupied = occupied
        self._settle(c, now)

    def _review(self, c: Connector, now: float) -> None:
        """Start or end the connector's transaction as the policy says for its facts."""
        policy = self.settings.tx_policy
        memo = self._tx_facts.setdefault(c.id, TxFacts())
        before, current = memo.seen, facts(c)
        memo.seen = current
        tx = c.transaction
        if tx is None:
            cause = start_cause(policy, before, current)
            if cause is not None and self._can_start(c):
                memo.reached = set(current)
                self._start(c, now, cause)
                memo.seen = facts(c)
            return
        memo.reached |= current
        for point, reason in LOST:
            if point is P.ENERGY_FLOWING and c.held_off:
                continue  # a smart-charging pause suspends the transaction, never ends it
            if point in policy.stop and point in memo.reached and point not in current:
                if point in (P.POWER_PATH_CLOSED, P.ENERGY_FLOWING) and not c.plugged:
                    reason = StopReason.EVDisconnected  # they went with the EV
                self._stop(c, reason, now)
                return

    def _grant(self, c: Connector, authorization: Authorization, now: float) -> None:
        """An accepted authorization for `c`: it authorizes the transaction that runs there
        without one, or waits for the policy to start one."""
        tx = c.transaction
        if tx is not None and not tx.authorized:
            tx.id_tag, tx.authorized, tx.authorized_at = authorization.id_tag, True, now
            tx.remote_start_id = authorization.remote_start_id
            tx.parent_id = authorization.parent_id
            self._decisions.append(TransactionAuthorized(tx, now))
            self._apply_power(c)
        else:
            c.authorization = authorization
        self._settle(c, now)

    def _deauthorize(
        self, c: Connector, reason: StopReason, now: float, id_tag: str | None = None
    ) -> None:
        """The driver (a card, the CSMS) withdraws the authorization of the transaction on
        `c`. It ends it if the policy says so (or if it was not authorized); otherwise the
        power goes off and the cable is unlocked, and it ends at another stop point."""
        tx = c.transaction
        assert tx is not None
        if self.settings.tx_policy.deauthorizing_stops or not tx.authorized:
            self._stop(c, reason, now, id_tag=id_tag)
            return
        tx.authorized, tx.deauthorized = False, True
        self._decisions.append(TransactionDeauthorized(tx, reason, now, id_tag))
        self._apply_power(c)
        self._lock(c, False)
        self._settle(c, now)

    def _apply_power(self, c: Connector) -> None:
        """Offer current and close the contactor (the power path) only for an authorized,
        unsuspended session, or for one that waits for the energy to flow."""
        tx = c.transaction
        if tx is not None:
            energised = tx.authorized and not tx.suspended_by_station and not c.faults
        else:  # only when the transaction waits for the energy to flow
            ready = c.authorization is not None and c.plugged
            energised = ready and self.settings.tx_policy.powers_before_start and not c.faults
        energised = energised and not c.held_off
        offer = max(c.max_current_a, MIN_OFFER_A) if energised else 0.0
        if energised and c.limit_a is not None:
            offer = min(offer, c.limit_a)
        closed = energised and c.pilot in DRAWING
        if c.contactor_closed and not closed:  # open before withdrawing the offer
            c.contactor_closed = False
            self._decisions.append(SwitchContactor(c.id, False))
        if offer != c.offered_a:
            c.offered_a = offer
            self._decisions.append(OfferCurrent(c.id, offer))
        if closed and not c.contactor_closed and c.pilot in DRAWING:
            c.contactor_closed = True
            self._decisions.append(SwitchContactor(c.id, True))

    def set_limit(self, connector: int, amps: float | None, source: str, now: float) -> None:
        """The smart-charging limit of `connector` (None: none but its maximum): the offer
        follows at once; below 6 A the EV is held off (SuspendedEVSE), the transaction
        stays open, and it resumes when the limit rises again."""
        c = self.connectors.get(connector)
        if c is None or (c.limit_a, c.limit_source) == (amps, source):
            return
        c.limit_a, c.limit_source = amps, source
        self._apply_power(c)
        self._settle(c, now)

    def _connection_timed_out(self, c: Connector, now: float) -> None:
        """EVConnectionTimeOut for a transaction that began before the EV was connected."""
        tx = c.transaction
        reached = self._tx_facts.get(c.id, TxFacts()).reached
        if tx is None or not tx.authorized or P.EV_CONNECTED in reached or c.plugged:
            return
        if now - tx.authorized_at >= self.settings.connection_timeout_s:
            self._stop(c, StopReason.Timeout, now)


__all__ = ["TransactionPoints", "TxPoint", "TxPolicy", "facts", "start_cause"]
