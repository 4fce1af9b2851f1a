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
    FaultCleared,
    FaultCode,
    FaultRaised,
    HalEvent,
    MeterReading,
    PilotChanged,
    PilotState,
    TagPresented,
)

from .connector import DRAWING, Connector, Status
from .model import (
    AuthInfo,
    Authorization,
    AuthorizationRejected,
    AuthStatus,
    AvailabilityChanged,
    CacheAuthorization,
    CoreSettings,
    Decision,
    MeterSampled,
    OfferCurrent,
    RefusedBy,
    RequestAuthorization,
    SetLock,
    StatusChanged,
    StopReason,
    SwitchContactor,
    Transaction,
    TransactionEnded,
    TransactionStarted,
)

# Pilot states that are errors in themselves, and the fault each stands for.
PILOT_FAULTS = {PilotState.E: "EVCommunicationError", PilotState.F: "InternalError"}
# Hardware errors that leave energy delivery safe and possible: reported (1.6 errorCode
# with the status unchanged), but no Faulted, no stopped session. A dead card reader
# leaves remote starts, and sessions already running, alone.
USABLE_WITH = {FaultCode.ReaderFailure}
MIN_OFFER_A = 6.0  # IEC 61851: below 6 A no PWM offer is possible
AUTH_CACHE_SIZE = 1024  # id tags remembered; memory and storage stay bounded


def tag_key(id_tag: str) -> str:
    """Id tags compare without regard to case (OCPP: CiString)."""
    return id_tag.casefold()


def same_tag(a: str, b: str) -> bool:
    return tag_key(a) == tag_key(b)


@dataclass(frozen=True)
class ConnectorSpec:
    id: int
    max_current_a: float
    phases: int


@dataclass
class _PendingAuth:
    connector: int | None
    remote_start_id: int | None
    # Presented at the reader (not a remote start): if accepted, it may stop a transaction
    # of its group instead of starting one.
    at_reader: bool = False


class Station:
    """All connectors of one charging station and the rules that drive them."""

    def __init__(
        self,
        connectors: Iterable[ConnectorSpec],
        settings: CoreSettings,
        *,
        auth_cache: dict[str, AuthInfo] | None = None,
        inoperative: Iterable[int] = (),
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
        self._pending: dict[str, _PendingAuth] = {}
        self._new_id = new_transaction_id
        self._decisions: list[Decision] = []
        self._aligned_slot: int | None = None
        for connector_id in inoperative:
            if connector_id in self.connectors:
                self.connectors[connector_id].operative = False
                self._settle(self.connectors[connector_id], 0.0)

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
        self._apply_power(c)
        self._settle(c, now)

    def _ev_arrived(self, c: Connector, now: float) -> None:
        if c.transaction is not None:  # back to a session that went on without the EV
            self._lock(c, True)
            return
        if not self._can_start(c):
            return
        if c.authorization is None and self.waiting_for_plug is not None:
            c.authorization, self.waiting_for_plug = self.waiting_for_plug, None
        if c.authorization is not None:
            self._start(c, now)

    def _ev_left(self, c: Connector, now: float) -> None:
        c.finishing = False
        if c.transaction is None:
            return
        if self.settings.stop_on_ev_disconnect:
            self._stop(c, StopReason.EVDisconnected, now)
        elif self.settings.unlock_on_ev_disconnect:
            self._lock(c, False)

    def _fault(self, c: Connector, code: str, info: str, now: float) -> None:
        c.faults[code] = info
        self._apply_power(c)  # cut the power before anything else
        if c.transaction is not None:
            self._stop(c, StopReason.Fault, now, fault=code.removeprefix("pilot:"))
        self._settle(c, now)

    # --- inputs: authorization -------------------------------------------------------------

    def tag_presented(self, id_tag: str, connector: int | None, now: float) -> None:
        """A card at the reader: it stops the transaction it started, or one of its group
        (same parent id tag), or else it authorizes a new one."""
        for c in self.connectors.values():
            tx = c.transaction
            if tx and same_tag(tx.id_tag, id_tag) and connector in (None, c.id):
                self._stop(c, StopReason.Local, now, id_tag=id_tag)
                return
        if connector is not None and connector not in self.connectors:
            return
        pending = _PendingAuth(connector, None, at_reader=True)
        if self._group_transactions(id_tag, connector):
            known = self._trusted_entry(id_tag, now, online=self.online)
            if known is not None and known.parent_id:  # its group is known here: no need to ask
                if self._authorized(id_tag, known.parent_id, pending, now):
                    return
            elif self.online:  # its group is known only to the CSMS
                self._ask(id_tag, pending)
                return
        self._authorize(id_tag, pending, now)

    def authorization_answered(self, id_tag: str, info: AuthInfo, now: float) -> None:
        self._remember(id_tag, info)
        pending = self._pending.pop(id_tag, None)
        if pending is None:
            return
        if info.valid_at(now):
            self._authorized(id_tag, info.parent_id, pending, now)
        else:
            self._decisions.append(AuthorizationRejected(id_tag, str(info.status)))

    def authorization_failed(self, id_tag: str, now: float) -> None:
        """No answer from the CSMS (offline, timeout): decide by the offline rules."""
        pending = self._pending.pop(id_tag, None)
        if pending is None:
            return
        status = self._local_decision(id_tag, now, online=False)
        if status is AuthStatus.Accepted:
            self._authorized(id_tag, self._cached_parent(id_tag), pending, now)
        else:
            self._refuse_offline(id_tag, status)

    def clear_cache(self) -> None:
        self.auth_cache.clear()
        self._decisions.append(CacheAuthorization(None, None))

    def _authorize(self, id_tag: str, pending: _PendingAuth, now: float) -> None:
        status = self._local_decision(id_tag, now, online=self.online)
        if status is None:
            self._ask(id_tag, pending)
        elif status is AuthStatus.Accepted:
            self._authorized(id_tag, self._cached_parent(id_tag), pending, now)
        else:  # refused without asking: only offline
            self._refuse_offline(id_tag, status)

    def _refuse_offline(self, id_tag: str, status: AuthStatus) -> None:
        """Refused by the offline rules: the cache's answer, or an unknown tag."""
        cached = self._cached(id_tag) if self.settings.local_authorize_offline else None
        by = RefusedBy.OFFLINE_CACHE if cached is not None else RefusedBy.OFFLINE_UNKNOWN
        self._decisions.append(AuthorizationRejected(id_tag, str(status), by))

    def _ask(self, id_tag: str, pending: _PendingAuth) -> None:
        self._pending[id_tag] = pending
        self._decisions.append(RequestAuthorization(id_tag))

    def _authorized(
        self, id_tag: str, parent_id: str | None, pending: _PendingAuth, now: float
    ) -> bool:
        """An accepted tag: at the reader it first stops a transaction of its group (OCPP
        1.6 parentIdTag, 2.0.1 groupIdToken); otherwise it may start one. True if it
        stopped a transaction."""
        if pending.at_reader and parent_id:
            for tx in self._group_transactions(id_tag, pending.connector):
                if same_tag(tx.parent_id or "", parent_id):
                    self._stop(self.connectors[tx.connector], StopReason.Local, now, id_tag=id_tag)
                    return True
        self._accept(id_tag, pending.connector, pending.remote_start_id, now, parent_id)
        return False

    def _group_transactions(self, id_tag: str, connector: int | None) -> list[Transaction]:
        """Running transactions `id_tag` may stop if it is of their group: those whose
        starting tag's parent is known and that `id_tag` did not start."""
        return [
            tx
            for tx in self.transactions()
            if tx.parent_id is not None
            and connector in (None, tx.connector)
            and not same_tag(tx.id_tag, id_tag)
        ]

    def _cached(self, id_tag: str) -> AuthInfo | None:
        if not self.settings.auth_cache_enabled:
            return None
        return self.auth_cache.get(tag_key(id_tag))

    def _cached_parent(self, id_tag: str) -> str | None:
        cached = self._cached(id_tag)
        return cached.parent_id if cached is not None else None

    def _trusted_entry(self, id_tag: str, now: float, *, online: bool) -> AuthInfo | None:
        """The cache entry of `id_tag` if the rules let the station act on it without
        asking the CSMS (LocalPreAuthorize online, LocalAuthorizeOffline offline)."""
        s, cached = self.settings, self._cached(id_tag)
        allowed = s.local_pre_authorize if online else s.local_authorize_offline
        return cached if cached is not None and allowed and cached.valid_at(now) else None

    def _local_decision(self, id_tag: str, now: float, *, online: bool) -> AuthStatus | None:
        """Accepted/refused from local knowledge, or None: ask the CSMS."""
        s = self.settings
        cached = self._cached(id_tag)
        if online:
            if s.local_pre_authorize and cached is not None and cached.valid_at(now):
                return AuthStatus.Accepted
            return None
        if cached is not None and s.local_authorize_offline:
            if cached.valid_at(now):
                return AuthStatus.Accepted
            return AuthStatus.Expired if cached.status is AuthStatus.Accepted else cached.status
        if s.allow_offline_unknown_id:
            return AuthStatus.Accepted
        return AuthStatus.Invalid

    def _remember(self, id_tag: str, info: AuthInfo) -> None:
        if self.settings.auth_cache_enabled:
            key = tag_key(id_tag)
            self.auth_cache.pop(key, None)  # re-inserted last: the most recently seen
            self.auth_cache[key] = info
            self._decisions.append(CacheAuthorization(id_tag, info))
            while len(self.auth_cache) > AUTH_CACHE_SIZE:  # forget the least recently seen
                oldest = next(iter(self.auth_cache))
                del self.auth_cache[oldest]
                self._decisions.append(CacheAuthorization(oldest, None))

    def _accept(
        self,
        id_tag: str,
        connector: int | None,
        remote_start_id: int | None,
        now: float,
        parent_id: str | None = None,
    ) -> None:
        authorization = Authorization(id_tag, now, remote_start_id, parent_id)
        if connector is None:
            plugged = [c for c in self.connectors.values() if c.plugged and self._can_start(c)]
            if not plugged:
                self.waiting_for_plug = authorization
                return
            connector = plugged[0].id
        c = self.connectors[connector]
        if not self._can_start(c):
            self._decisions.append(
                AuthorizationRejected(id_tag, "ConnectorNotReady", RefusedBy.NO_CONNECTOR)
            )
            return
        c.authorization = authorization
        if c.plugged:
            self._start(c, now)
        self._settle(c, now)

    # --- inputs: the CSMS ----------------------------------------------------------------

    def link_changed(self, online: bool) -> None:
        self.online = online

    def remote_start(
        self, id_tag: str, connector: int | None, now: float, remote_start_id: int | None = None
    ) -> bool:
        """A remote start request; False means Rejected."""
        if connector is None:
            free = [c for c in self.connectors.values() if self._can_start(c)]
            free.sort(key=lambda c: not c.plugged)  # a waiting EV first
            if not free:
                return False
            connector = free[0].id
        c = self.connectors.get(connector)
        if c is None or not self._can_start(c):
            return False
        if self.settings.authorize_remote_start:
            self._authorize(id_tag, _PendingAuth(c.id, remote_start_id), now)
        else:
            self._accept(id_tag, c.id, remote_start_id, now)
        return True

    def remote_stop(self, transaction_id: str, now: float) -> bool:
        c = self.find_transaction(transaction_id)
        if c is None:
            return False
        self._stop(c, StopReason.Remote, now)
        return True

    def transaction_confirmed(self, transaction_id: str, info: AuthInfo, now: float) -> None:
        """The CSMS's verdict on the id tag of a started transaction."""
        c = self.find_transaction(transaction_id)
        if c is None:
            return
        tx = c.transaction
        assert tx is not None
        self._remember(tx.id_tag, info)
        if info.parent_id:  # e.g. a remote start that was not authorized first
            tx.parent_id = info.parent_id
        if info.valid_at(now):
            return
        if self.settings.stop_on_invalid_id:
            self._stop(c, StopReason.DeAuthorized, now)
            return
        limit = self.settings.max_energy_on_invalid_id_wh
        tx.energy_limit_wh = tx.meter_start_wh + limit
        reading = self.readings.get(c.id)
        if limit <= 0 or (reading is not None and reading.energy_wh >= tx.energy_limit_wh):
            tx.suspended_by_station = True
        self._apply_power(c)
        self._settle(c, now)

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
            tx = c.transaction
            interval = s.sample_interval_s
            if tx and interval > 0 and now - tx.last_sample_at >= interval:
                # keep to the grid from the transaction start, even when a tick is late
                tx.last_sample_at += interval * ((now - tx.last_sample_at) // interval)
                self._sample(c, "Sample.Periodic", now)
        waiting = self.waiting_for_plug
        if waiting and now - waiting.at >= s.connection_timeout_s:
            self.waiting_for_plug = None
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

    def _start(self, c: Connector, now: float) -> None:
        assert c.authorization is not None
        energy = self._energy(c.id)
        tx = Transaction(
            id=self._new_id(),
            connector=c.id,
            id_tag=c.authorization.id_tag,
            meter_start_wh=energy,
            started_at=now,
            last_meter_wh=energy,
            remote_start_id=c.authorization.remote_start_id,
            parent_id=c.authorization.parent_id,
            last_sample_at=now,
        )
        c.transaction, c.authorization, c.finishing = tx, None, False
        self._decisions.append(TransactionStarted(tx, self.readings.get(c.id), now))
        self._lock(c, True)
        self._apply_power(c)

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

    def _set_operative(self, c: Connector, operative: bool, now: float) -> None:
        c.scheduled_operative = None
        if c.operative != operative:
            c.operative = operative
            self._decisions.append(AvailabilityChanged(c.id, operative))
        if not operative:
            c.authorization = None
        self._settle(c, now)

    def _apply_power(self, c: Connector) -> None:
        """Offer current and close the contactor only for a running, unsuspended session."""
        tx = c.transaction
        energised = tx is not None and not tx.suspended_by_station and not c.faults
        offer = max(c.max_current_a, MIN_OFFER_A) if energised else 0.0
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
        for old, new in c.settle():
            self._decisions.append(StatusChanged(c.id, old, new, c.error_code, now))
