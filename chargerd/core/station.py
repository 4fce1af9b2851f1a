"""The station core: connectors, transactions and authorization, without I/O.

It is fed events (hardware, meter readings, CSMS answers and requests, the clock) and
answers with decisions (`take()`), in the order they must be carried out. Time is an
argument (`now`, epoch seconds); nothing here reads a clock, a socket or a disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hal.interfaces import (
    BayChanged,
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    MeterReading,
    PilotChanged,
    PilotState,
    TagPresented,
)

from .authorization import AuthorizationRules, PendingAuth, tag_key
from .connector import Connector, Status
from .controls import StationControls
from .model import (
    AuthInfo,
    Authorization,
    CoreSettings,
    Decision,
    MeterSampled,
    Reservation,
    SetLock,
    StatusChanged,
    StopReason,
    Transaction,
    TransactionEnded,
    TransactionStarted,
)
from .reservations import ReservationRules
from .tx_points import TransactionPoints, TxFacts
from .tx_policy import TxPoint

# Pilot states that are errors in themselves, and the fault each stands for.
PILOT_FAULTS = {PilotState.E: "EVCommunicationError", PilotState.F: "InternalError"}
# Hardware errors that leave energy delivery safe and possible: reported (1.6 errorCode
# with the status unchanged), but no Faulted, no stopped session. A dead card reader
# leaves remote starts, and sessions already running, alone.
USABLE_WITH = {FaultCode.ReaderFailure}


@dataclass(frozen=True)
class ConnectorSpec:
    id: int
    max_current_a: float
    phases: int


class Station(AuthorizationRules, ReservationRules, TransactionPoints, StationControls):
    """All connectors of one charging station and the rules that drive them."""

    def __init__(
        self,
        connectors: Iterable[ConnectorSpec],
        settings: CoreSettings,
        *,
        auth_cache: dict[str, AuthInfo] | None = None,
        inoperative: Iterable[int] = (),
        reservations: Iterable[Reservation] = (),
        new_transaction_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self.settings = settings
        self.connectors = {
            spec.id: Connector(spec.id, spec.max_current_a, spec.phases) for spec in connectors
        }
        self.auth_cache = {tag_key(tag): info for tag, info in (auth_cache or {}).items()}
        self.online = False
        self.readings: dict[int, MeterReading] = {}
        self.waiting_for_plug: Authorization | None = None  # a tag for whichever connector
        self._pending: dict[str, PendingAuth] = {}
        self._tx_facts: dict[int, TxFacts] = {}
        self._new_id = new_transaction_id
        self._decisions: list[Decision] = []
        self._aligned_slot: int | None = None
        self.reservations = {r.id: r for r in reservations}  # kept across restarts
        for connector_id in inoperative:
            if connector_id in self.connectors:
                self.connectors[connector_id].operative = False
                self._settle(self.connectors[connector_id], 0.0)
        self._settle_all(0.0)  # connectors kept for reservations made before a restart

    # --- output ---------------------------------------------------------------------

    def take(self) -> list[Decision]:
        """The decisions made since the last call, in the order to carry them out."""
        decisions, self._decisions = self._decisions, []
        return decisions

    def transactions(self) -> list[Transaction]:
        return [c.transaction for c in self.connectors.values() if c.transaction is not None]

    def find_transaction(self, transaction_id: str) -> Connector | None:
        for c in self.connectors.values():
            if c.transaction is not None and c.transaction.id == transaction_id:
                return c
        return None

    # --- inputs: hardware ----------------------------------------------------------------

    def hardware_event(self, event: HalEvent, now: float) -> None:
        if isinstance(event, TagPresented):
            self.tag_presented(event.id_tag, event.connector, now)
            return
        c = self.connectors.get(event.connector)
        if c is None:
            return
        if isinstance(event, PilotChanged):
            self._pilot_changed(c, event.state, now)
        elif isinstance(event, BayChanged):
            self.bay_changed(c.id, event.occupied, now)
        elif isinstance(event, FaultRaised) and event.code in USABLE_WITH:
            c.warnings[str(event.code)] = event.info
        elif isinstance(event, FaultRaised):
            self._fault(c, str(event.code), event.info, now)
        elif isinstance(event, FaultCleared):
            if event.code is None:
                c.faults = {k: v for k, v in c.faults.items() if k.startswith("pilot:")}
            else:
                c.faults.pop(str(event.code), None)
                c.warnings.pop(str(event.code), None)
            self._apply_power(c)
            self._settle(c, now)

    def meter_read(self, connector: int, reading: MeterReading, now: float) -> None:
        self.readings[connector] = reading
        c = self.connectors.get(connector)
        if c is not None and "PowerMeterFailure" in c.faults:
            c.faults.pop("PowerMeterFailure")
            self._apply_power(c)
            self._settle(c, now)
        tx = c.transaction if c else None
        if c and tx and tx.energy_limit_wh is not None and not tx.suspended_by_station:
            if reading.energy_wh >= tx.energy_limit_wh:
                tx.suspended_by_station = True
                self._apply_power(c)
                self._settle(c, now)

    def meter_failed(self, connector: int, info: str, now: float) -> None:
        """The meter stopped answering: no energy without metering."""
        c = self.connectors.get(connector)
        if c is not None and "PowerMeterFailure" not in c.faults:
            self._fault(c, "PowerMeterFailure", info, now)

    def _pilot_changed(self, c: Connector, state: PilotState, now: float) -> None:
        was_plugged = c.plugged
        c.pilot = state
        for pilot, code in PILOT_FAULTS.items():
            key = f"pilot:{code}"
            if state is pilot and key not in c.faults:
                self._fault(c, key, f"control pilot state {pilot}", now)
                return
            if state is not pilot:
                c.faults.pop(key, None)
        if was_plugged and not c.plugged:
            self._ev_left(c, now)
        elif c.plugged and not was_plugged:
            self._ev_arrived(c, now)
        self._review(c, now)
        self._apply_power(c)
        self._settle(c, now)

    def _ev_arrived(self, c: Connector, now: float) -> None:
        """The EV came: it takes a tag that waits for any connector, or, with free charging,
        is authorized by its arrival. The policy (_review) then decides on a transaction."""
        tx = c.transaction
        if tx is not None and tx.authorized:  # back to a session that went on without the EV
            self._lock(c, True)
            return
        if not self._can_authorize(c) or c.authorization is not None:
            return
        waiting = self.waiting_for_plug
        if tx is None and waiting is not None and self._claim(c, waiting):
            c.authorization, self.waiting_for_plug = waiting, None
        elif self.settings.free_id_tag is not None and not (tx and tx.deauthorized):
            self._grant(c, Authorization(self.settings.free_id_tag, now), now)

    def _ev_left(self, c: Connector, now: float) -> None:
        c.finishing = False
        if c.transaction is None:
            return
        if self.settings.stop_on_ev_disconnect:
            self._stop(c, StopReason.EVDisconnected, now)
        elif self.settings.deauthorize_on_ev_disconnect and c.transaction.authorized:
            self._deauthorize(c, StopReason.EVDisconnected, now)  # which unlocks
        elif self.settings.unlock_on_ev_disconnect:
            self._lock(c, False)

    def _fault(self, c: Connector, code: str, info: str, now: float) -> None:
        c.faults[code] = info
        self._apply_power(c)  # cut the power before anything else
        if c.transaction is not None:
            self._stop(c, StopReason.Fault, now, fault=code.removeprefix("pilot:"))
        self._remove_reservations(c, now)
        self._settle(c, now)

    # --- inputs: the CSMS ----------------------------------------------------------------

    def link_changed(self, online: bool) -> None:
        self.online = online

    def remote_start(
        self, id_tag: str, connector: int | None, now: float, remote_start_id: int | None = None
    ) -> bool:
        """A remote start request; False means Rejected (also: the connector is reserved
        for another tag)."""
        tag = Authorization(id_tag, now, parent_id=self._known_parent(id_tag))
        if connector is None:
            connector = self._reserved_connector(id_tag, tag.parent_id)
        if connector is None:
            free = [c for c in self.connectors.values() if self._can_authorize(c)]
            free = [c for c in free if self._claim(c, tag)]
            free.sort(key=lambda c: not c.plugged)  # a waiting EV first
            if not free:
                return False
            connector = free[0].id
        c = self.connectors.get(connector)
        if c is None or not self._can_authorize(c) or not self._claim(c, tag):
            return False
        if self.settings.authorize_remote_start:
            self._authorize(id_tag, PendingAuth(c.id, remote_start_id), now)
        else:
            self._accept(id_tag, c.id, remote_start_id, now)
        return True

    def remote_stop(self, transaction_id: str, now: float) -> bool:
        c = self.find_transaction(transaction_id)
        if c is None:
            return False
        self._deauthorize(c, StopReason.Remote, now)
        return True

    def transaction_confirmed(self, transaction_id: str, info: AuthInfo, now: float) -> None:
        """The CSMS's verdict on the id tag of a started transaction."""
        c = self.find_transaction(transaction_id)
        if c is None:
            return
        tx = c.transaction
        assert tx is not None
        if not tx.authorized or tx.id_tag == "":
            # a verdict on the card that deauthorized it, or on the empty idToken of free
            # charging (2.0.1 NoAuthorization): nothing of this transaction's to judge
            return
        self._remember(tx.id_tag, info)
        if info.parent_id:  # e.g. a remote start that was not authorized first
            tx.parent_id = info.parent_id
        if info.valid_at(now):
            return
        if self.settings.stop_on_invalid_id:
            self._deauthorize(c, StopReason.DeAuthorized, now)
            return
        limit = self.settings.max_energy_on_invalid_id_wh
        tx.energy_limit_wh = tx.meter_start_wh + limit
        reading = self.readings.get(c.id)
        if limit <= 0 or (reading is not None and reading.energy_wh >= tx.energy_limit_wh):
            tx.suspended_by_station = True
        self._apply_power(c)
        self._settle(c, now)

    def end_interrupted(self, tx: Transaction, reason: StopReason, now: float) -> None:
        """End a transaction found open in storage at start-up (the daemon was killed).

        meterStop is never below what was already reported for it."""
        reading = self.readings.get(tx.connector)
        energy = round(reading.energy_wh) if reading else 0
        self._decisions.append(
            TransactionEnded(tx, reason, max(energy, tx.last_meter_wh), reading, now)
        )

    # --- inputs: time -----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        s = self.settings
        for c in self.connectors.values():
            auth = c.authorization
            if auth and not c.plugged and now - auth.at >= s.connection_timeout_s:
                c.authorization = None
                self._settle(c, now)
            self._connection_timed_out(c, now)
            tx = c.transaction
            interval = s.sample_interval_s
            if tx and interval > 0 and now - tx.last_sample_at >= interval:
                # keep to the grid from the transaction start, even when a tick is late
                tx.last_sample_at += interval * ((now - tx.last_sample_at) // interval)
                self._sample(c, "Sample.Periodic", now)
        waiting = self.waiting_for_plug
        if waiting and now - waiting.at >= s.connection_timeout_s:
            self.waiting_for_plug = None
        self._expire_reservations(now)
        if s.aligned_interval_s > 0:
            slot = int(now // s.aligned_interval_s)
            if self._aligned_slot is not None and slot != self._aligned_slot:
                for c in self.connectors.values():
                    self._sample(c, "Sample.Clock", now)
            self._aligned_slot = slot

    # --- rules --------------------------------------------------------------------------------

    def _can_start(self, c: Connector) -> bool:
        return (
            c.transaction is None
            and c.operative
            and c.scheduled_operative is None
            and not c.faults
            and c.status is not Status.Unavailable
        )

    def _can_authorize(self, c: Connector) -> bool:
        """A driver may be authorized here: for a new transaction, or for the one that runs
        without authorization (started at the EV or the bay)."""
        tx = c.transaction
        return self._can_start(c) or (tx is not None and not tx.authorized and not c.faults)

    def _start(self, c: Connector, now: float, cause: TxPoint = TxPoint.AUTHORIZED) -> None:
        """Start a transaction; without an authorization it runs unauthorized (no energy)."""
        auth = c.authorization
        energy = self._energy(c.id)
        tx = Transaction(
            id=self._new_id(),
            connector=c.id,
            id_tag=auth.id_tag if auth else "",
            meter_start_wh=energy,
            started_at=now,
            last_meter_wh=energy,
            remote_start_id=auth.remote_start_id if auth else None,
            parent_id=auth.parent_id if auth else None,
            last_sample_at=now,
            reservation_id=auth.reservation_id if auth else None,
            authorized=auth is not None,
            authorized_at=now,
        )
        c.transaction, c.authorization, c.finishing = tx, None, False
        self._decisions.append(TransactionStarted(tx, self.readings.get(c.id), now, cause))
        self._lock(c, True)
        self._apply_power(c)
        self._use_reservation(tx.reservation_id, now)

    def _stop(
        self,
        c: Connector,
        reason: StopReason,
        now: float,
        *,
        id_tag: str | None = None,
        fault: str | None = None,
    ) -> None:
        tx = c.transaction
        assert tx is not None
        c.transaction = None
        self._apply_power(c)
        c.finishing = c.plugged
        meter_stop = max(self._energy(c.id), tx.last_meter_wh)
        self._decisions.append(
            TransactionEnded(tx, reason, meter_stop, self.readings.get(c.id), now, id_tag, fault)
        )
        self._lock(c, False)
        if c.scheduled_operative is not None:
            self._set_operative(c, c.scheduled_operative, now)
        self._settle(c, now)

    def _lock(self, c: Connector, locked: bool, *, force: bool = False) -> None:
        if c.locked != locked or force:
            c.locked = locked
            self._decisions.append(SetLock(c.id, locked))

    def _sample(self, c: Connector, context: str, now: float) -> None:
        reading = self.readings.get(c.id)
        if reading is None:
            return
        if c.transaction is not None:
            c.transaction.last_meter_wh = max(c.transaction.last_meter_wh, round(reading.energy_wh))
        self._decisions.append(MeterSampled(c.id, c.transaction, reading, context, now))

    def _energy(self, connector: int) -> int:
        reading = self.readings.get(connector)
        return round(reading.energy_wh) if reading else 0

    def _settle(self, c: Connector, now: float) -> None:
        # a connector taken or freed may change which others are kept for reservations
        changed = self._mark_reserved()
        self._settle_one(c, now)
        for other in changed:
            if other is not c:
                self._settle_one(other, now)

    def _settle_one(self, c: Connector, now: float) -> None:
        self._review(c, now)
        for old, new in c.settle():
            self._decisions.append(StatusChanged(c.id, old, new, c.error_code, now))
