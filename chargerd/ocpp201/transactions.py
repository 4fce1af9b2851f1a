"""TransactionEvent: the core's transaction decisions as numbered, persisted events.

One `TransactionEvents` per adapter, given the store, the seqNo counter, the device model
and the outbox; it knows nothing of the adapter. Every event is written to the outbox
before its first attempt (Store.start_transaction / record_sample / end_transaction /
enqueue) and numbered by sequencing.SeqNumbers: seqNo 0, 1, 2, ... per transaction
without gaps, across restarts. Events created while the CSMS is unreachable carry `offline: true`.

- TransactionStarted -> Started (idToken once authorized, evse, remoteStartId,
  Transaction.Begin values); triggerReason from the start point that came last
  (tx_points.py: TxCtrlr.TxStartPoint / TxStopPoint become the core's TxPolicy): EVDetected (bay),
  CablePluggedIn, Authorized / RemoteStart, ChargingStateChanged (energy);
- TransactionAuthorized -> Updated Authorized / RemoteStart with the idToken (a transaction
  begun at the EV or the bay); TransactionDeauthorized -> Updated StopAuthorized /
  RemoteStop / Deauthorized (the transaction goes on to another stop point);
- free charging (AuthCtrlr.Enabled false): idToken "" of type NoAuthorization;
- charging-state changes (settled per pass of the core) -> Updated ChargingStateChanged
  (EVCommunicationLost when the EV left, CablePluggedIn when it came back);
- periodic samples -> Updated MeterValuePeriodic at SampledDataCtrlr.TxUpdatedInterval,
  clock-aligned ones -> MeterValueClock at AlignedDataCtrlr.Interval; samples for the
  Ended event are kept at the TxEndedInterval of each;
- TransactionEnded -> Ended (stoppedReason, the kept samples and Transaction.End).

AlignedDataCtrlr.SendDuringIdle true: no clock-aligned values are sent (neither Updated
MeterValueClock events nor MeterValues) while a transaction is ongoing (J01.FR.20).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hal.interfaces import MeterReading

from ..core.connector import Connector, Status
from ..core.model import (
    MeterSampled,
    Transaction,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionEnded,
    TransactionStarted,
)
from ..core.station import Station
from ..core.tx_policy import TxPoint
from ..outbox import Outbox
from ..store import Store
from .device_model import DeviceModel
from .payloads import ended_trigger, id_token, meter_value, stopped_reason, timestamp
from .sequencing import SeqNumbers
from .tx_points import DEAUTHORIZED_BY, STARTED_BY

log = logging.getLogger("chargerd.ocpp201")

SLACK_S = 0.5  # a core sample counts for an interval when this close to it
ALIGNED_WINDOW_S = 2.0  # a clock sample within this much after a boundary is "on" it

# the device-model variables that list the measurands of each kind of meter value
TX_STARTED = ("SampledDataCtrlr", "TxStartedMeasurands")
TX_UPDATED = ("SampledDataCtrlr", "TxUpdatedMeasurands")
TX_ENDED = ("SampledDataCtrlr", "TxEndedMeasurands")
ALIGNED = ("AlignedDataCtrlr", "Measurands")
ALIGNED_TX_ENDED = ("AlignedDataCtrlr", "TxEndedMeasurands")

# core connector status of a connector with a transaction -> ChargingStateEnumType
CHARGING_STATE = {
    Status.Charging: "Charging",
    Status.SuspendedEV: "SuspendedEV",
    Status.SuspendedEVSE: "SuspendedEVSE",
    Status.Preparing: "EVConnected",
}


NO_AUTHORIZATION = "NoAuthorization"  # IdTokenEnumType of free charging's empty idToken


def measurands(dm: DeviceModel, component: str, name: str) -> list[str]:
    """The measurands a MemberList variable lists."""
    return [m for m in str(dm.value(component, name)).split(",") if m]


class TransactionEvents:
    """TransactionEvent messages of the transactions the core starts and ends."""

    def __init__(
        self,
        store: Store,
        seq: SeqNumbers,
        dm: DeviceModel,
        outbox: Outbox,
        online: Callable[[], bool],
        token_type: Callable[[str], str],
    ):
        self.store, self.seq, self.dm, self.outbox = store, seq, dm, outbox
        self._online = online  # connected and registered: events are not "offline"
        self._token_type = token_type  # IdTokenEnumType of an id token
        self.station: Station | None = None
        self.connector_tx: dict[int, str] = {}  # transactions started in this run
        self._charging_state: dict[str, str] = {}
        self._last_updated: dict[str, float] = {}  # tx -> last periodic Updated
        self._last_kept: dict[str, float] = {}  # tx -> last periodic sample kept for Ended
        self._aligned_slots: dict[tuple[str | None, object], int] = {}

    def bind(self, station: Station) -> None:
        self.station = station

    def _connectors(self) -> dict[int, Connector]:
        assert self.station is not None, "bind() first"
        return self.station.connectors

    def _event(
        self,
        event_type: str,
        trigger: str,
        tx_id: str,
        seq_no: int,
        at: float,
        info: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": timestamp(at),
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": tx_id, **(info or {})},
        }
        if not self._online():
            payload["offline"] = True
        payload.update(fields)
        return payload

    def _queue_event(self, tx_id: str, build: Any, at: float) -> None:
        """Number, queue (persisted) and send an event of a running transaction."""
        seq_no = self.seq.peek(tx_id)
        self.store.enqueue("TransactionEvent", build(seq_no), tx_id, at)
        self.seq.commit(tx_id, seq_no)
        self.outbox.wake()

    def _sample(
        self,
        reading: Any,
        listed_in: tuple[str, str],
        context: str,
        at: float,
        connector: int,
    ) -> dict[str, Any] | None:
        """A MeterValue of the measurands listed in that variable, or None (nothing to
        report, or SampledDataCtrlr disabled)."""
        component, name = listed_in
        if component == "SampledDataCtrlr" and not self.dm.value(component, "Enabled"):
            return None
        c = self._connectors().get(connector)
        offered = c.offered_a if c is not None else 0.0
        return meter_value(reading, measurands(self.dm, component, name), context, at, offered)

    def _id_token(self, tag: str) -> dict[str, str]:
        return id_token(tag, NO_AUTHORIZATION if tag == "" else self._token_type(tag))

    def started(self, d: TransactionStarted) -> None:
        tx = d.transaction
        trigger = STARTED_BY.get(d.cause, "Authorized")
        if trigger == "Authorized" and tx.remote_start_id is not None:
            trigger = "RemoteStart"
        c = self._connectors().get(tx.connector)
        state = "EVConnected" if c is not None and c.plugged else "Idle"
        if d.cause is TxPoint.ENERGY_FLOWING:
            state = "Charging"
        info: dict[str, Any] = {"chargingState": state}
        if tx.remote_start_id is not None:
            info["remoteStartId"] = tx.remote_start_id
        fields: dict[str, Any] = {"evse": {"id": tx.connector, "connectorId": 1}}
        if tx.authorized:  # a transaction begun at the EV or the bay gets it later
            fields["idToken"] = self._id_token(tx.id_tag)
        if tx.reservation_id is not None:
            fields["reservationId"] = tx.reservation_id  # H03.FR.09
        begin = self._sample(d.reading, TX_STARTED, "Transaction.Begin", d.at, tx.connector)
        if begin:
            fields["meterValue"] = [begin]
        payload = self._event("Started", trigger, tx.id, 0, d.at, info, **fields)
        self.store.start_transaction(tx, ("TransactionEvent", payload), d.at)
        self.seq.commit(tx.id, 0)
        kept = self._sample(d.reading, TX_ENDED, "Transaction.Begin", d.at, tx.connector)
        if kept:
            self.store.record_sample(tx.id, tx.meter_start_wh, kept, None, d.at)
        self.connector_tx[tx.connector] = tx.id
        self._charging_state[tx.id] = state
        self.outbox.wake()
        log.info(
            "transaction %s started on EVSE %d for %s at %d Wh (%s)",
            tx.id,
            tx.connector,
            tx.id_tag,
            tx.meter_start_wh,
            trigger,
        )

    def ended(self, d: TransactionEnded) -> None:
        tx = d.transaction
        c = self._connectors().get(tx.connector)
        plugged = c is not None and c.plugged
        info = {
            "stoppedReason": stopped_reason(d.reason, d.fault),
            "chargingState": "EVConnected" if plugged else "Idle",
        }
        fields: dict[str, Any] = {"evse": {"id": tx.connector, "connectorId": 1}}
        if d.id_tag:
            fields["idToken"] = self._id_token(d.id_tag)
        values = self.store.transaction_samples(tx.id)
        # the register as the core ends the transaction: never below a reading already sent
        # (a meter that restarted with the daemon may have lost its last second of energy)
        reading = d.reading or MeterReading(d.meter_stop_wh)
        if reading.energy_wh < d.meter_stop_wh:
            reading = replace(reading, energy_wh=d.meter_stop_wh)
        end = self._sample(reading, TX_ENDED, "Transaction.End", d.at, tx.connector)
        if end:
            values.append(end)
        if values:
            fields["meterValue"] = values
        seq_no = self.seq.peek(tx.id)
        payload = self._event("Ended", ended_trigger(d.reason), tx.id, seq_no, d.at, info, **fields)
        self.store.end_transaction(tx.id, ("TransactionEvent", payload), d.at)
        self.seq.commit(tx.id, seq_no)
        if self.connector_tx.get(tx.connector) == tx.id:
            del self.connector_tx[tx.connector]
        for memo in (self._charging_state, self._last_updated, self._last_kept):
            memo.pop(tx.id, None)
        self.outbox.wake()
        log.info(
            "transaction %s on EVSE %d ended (%s) at %d Wh, seqNo %d",
            tx.id,
            tx.connector,
            info["stoppedReason"],
            d.meter_stop_wh,
            seq_no,
        )

    def authorization_changed(self, d: TransactionAuthorized | TransactionDeauthorized) -> None:
        """An Updated event: the transaction got its driver's authorization, or lost it
        without ending."""
        tx = d.transaction
        if self.connector_tx.get(tx.connector) != tx.id:
            return
        c = self._connectors().get(tx.connector)
        plugged = c is not None and c.plugged
        info: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        if isinstance(d, TransactionAuthorized):
            remote = tx.remote_start_id is not None
            trigger = "RemoteStart" if remote else "Authorized"
            fields["idToken"] = self._id_token(tx.id_tag)
            if remote:
                info["remoteStartId"] = tx.remote_start_id
        else:
            trigger = DEAUTHORIZED_BY.get(d.reason, "Deauthorized")
            if d.id_tag:
                fields["idToken"] = self._id_token(d.id_tag)
            state = "SuspendedEVSE" if plugged else "Idle"  # no energy without a driver
            self._charging_state[tx.id] = info["chargingState"] = state
        self._queue_event(
            tx.id,
            lambda seq_no: self._event("Updated", trigger, tx.id, seq_no, d.at, info, **fields),
            d.at,
        )
        log.info("transaction %s: %s (%s)", tx.id, type(d).__name__, trigger)

    def _aligned_due(self, tx_id: str | None, kind: object, interval: int, at: float) -> bool:
        """A clock-aligned sample at `at` falls on a boundary of `interval` not yet used."""
        if interval <= 0 or at % interval >= ALIGNED_WINDOW_S:
            return False
        slot = int(at // interval)
        if self._aligned_slots.get((tx_id, kind)) == slot:
            return False
        self._aligned_slots[(tx_id, kind)] = slot
        return True

    def _quiet_during_transactions(self) -> bool:
        """SendDuringIdle: clock-aligned values are not sent while a transaction is on."""
        return bool(self.dm.value("AlignedDataCtrlr", "SendDuringIdle")) and any(
            c.transaction is not None for c in self._connectors().values()
        )

    def sampled(self, d: MeterSampled) -> None:
        tx, v = d.transaction, self.dm.value
        if tx is None:  # clock-aligned, no transaction: not kept while offline
            if self._quiet_during_transactions():
                return
            interval = int(v("AlignedDataCtrlr", "Interval"))
            if d.context == "Sample.Clock" and self._aligned_due(None, d.connector, interval, d.at):
                value = self._sample(d.reading, ALIGNED, d.context, d.at, d.connector)
                if value and self.outbox.connected:
                    self.outbox.post("MeterValues", {"evseId": d.connector, "meterValue": [value]})
            return
        if d.context == "Sample.Periodic":
            trigger, to_send, to_keep = "MeterValuePeriodic", TX_UPDATED, TX_ENDED
            send = self._interval_due(self._last_updated, tx, "TxUpdatedInterval", d.at)
            keep = self._interval_due(self._last_kept, tx, "TxEndedInterval", d.at)
        else:
            trigger, to_send, to_keep = "MeterValueClock", ALIGNED, ALIGNED_TX_ENDED
            aligned = "AlignedDataCtrlr"
            send = self._aligned_due(tx.id, "updated", int(v(aligned, "Interval")), d.at)
            send = send and not self._quiet_during_transactions()
            keep = self._aligned_due(tx.id, "ended", int(v(aligned, "TxEndedInterval")), d.at)
        value = self._sample(d.reading, to_send, d.context, d.at, d.connector) if send else None
        kept = self._sample(d.reading, to_keep, d.context, d.at, d.connector) if keep else None
        if value is None:
            self.store.record_sample(tx.id, tx.last_meter_wh, kept, None, d.at)
            return
        seq_no = self.seq.peek(tx.id)
        payload = self._event("Updated", trigger, tx.id, seq_no, d.at, meterValue=[value])
        message = ("TransactionEvent", payload)
        self.store.record_sample(tx.id, tx.last_meter_wh, kept, message, d.at)
        self.seq.commit(tx.id, seq_no)
        self.outbox.wake()

    def _interval_due(self, last: dict[str, float], tx: Transaction, name: str, at: float) -> bool:
        """A periodic sample at `at` is one for SampledDataCtrlr.`name` (the core samples at
        the greatest common divisor of TxUpdatedInterval and TxEndedInterval)."""
        every = int(self.dm.value("SampledDataCtrlr", name))
        if every <= 0 or at - last.get(tx.id, tx.started_at) < every - SLACK_S:
            return False
        last[tx.id] = at
        return True

    def charging_states(self, connectors: list[Connector], status_at: dict[int, float]) -> None:
        """Charging-state changes of connectors with a transaction, as settled after a pass
        of the core (not every intermediate status): an Updated event each."""
        for c in connectors:
            tx = c.transaction
            if tx is None or self.connector_tx.get(c.id) != tx.id:
                continue
            state = CHARGING_STATE.get(c.status)
            if state is not None and not c.plugged:
                state = "Idle"  # no EV (yet, or any more): the transaction goes on
            old = self._charging_state.get(tx.id)
            if state is None or state == old:
                continue
            self._charging_state[tx.id] = state
            if state == "Idle":
                trigger = "EVCommunicationLost"
            elif old == "Idle":
                trigger = "CablePluggedIn"
            else:
                trigger = "ChargingStateChanged"
            info = {"chargingState": state}
            now = status_at.get(c.id) or time.time()
            self._queue_event(
                tx.id,
                lambda seq_no, tx_id=tx.id, trigger=trigger, info=info, at=now: self._event(
                    "Updated", trigger, tx_id, seq_no, at, info
                ),
                now,
            )

    def charging_rate_changed(self, connector: int, at: float) -> None:
        """Updated ChargingRateChanged: smart charging changed the offer (K02, K11)."""
        tx_id = self.connector_tx.get(connector)
        if tx_id is not None:
            event = lambda seq_no: self._event("Updated", "ChargingRateChanged", tx_id, seq_no, at)  # noqa: E731
            self._queue_event(tx_id, event, at)

    def charging_state(self, tx_id: str) -> str:
        return self._charging_state.get(tx_id, "EVConnected")

    def triggered(self, connector: int) -> None:
        """TriggerMessage TransactionEvent: an Updated event with the current meter value."""
        assert self.station is not None, "bind() first"
        c = self.station.connectors[connector]
        tx = c.transaction
        if tx is None:
            return
        now = time.time()
        fields: dict[str, Any] = {}
        value = self._sample(
            self.station.readings.get(connector), TX_UPDATED, "Trigger", now, connector
        )
        if value:
            fields["meterValue"] = [value]
        info = {"chargingState": self.charging_state(tx.id)}
        self._queue_event(
            tx.id,
            lambda seq_no: self._event("Updated", "Trigger", tx.id, seq_no, now, info, **fields),
            now,
        )
