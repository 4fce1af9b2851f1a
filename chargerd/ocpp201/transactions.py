"""TransactionEvent: the core's transaction decisions as numbered, persisted events.

A mixin of the adapter. Every event is written to the outbox before its first attempt
(Store.start_transaction / record_sample / end_transaction / enqueue) and numbered by
sequencing.SeqNumbers: seqNo 0, 1, 2, ... per transaction without gaps, across restarts.
Events created while the CSMS is unreachable carry `offline: true`.

- TransactionStarted -> Started (idToken, evse, remoteStartId, Transaction.Begin values);
  triggerReason CablePluggedIn when the EV came last, else Authorized / RemoteStart;
- charging-state changes (settled per pass of the core) -> Updated ChargingStateChanged
  (EVCommunicationLost when the EV left, CablePluggedIn when it came back);
- periodic samples -> Updated MeterValuePeriodic at SampledDataCtrlr.TxUpdatedInterval,
  clock-aligned ones -> MeterValueClock at AlignedDataCtrlr.Interval; samples for the
  Ended event are kept at the TxEndedInterval of each;
- TransactionEnded -> Ended (stoppedReason, the kept samples and Transaction.End).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..core.connector import Connector, Status
from ..core.model import MeterSampled, TransactionEnded, TransactionStarted
from .payloads import ended_trigger, id_token, meter_value, stopped_reason, timestamp

if TYPE_CHECKING:
    from .adapter import Ocpp201Adapter

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


class TransactionEvents:
    def _event(
        self: Ocpp201Adapter,
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
        if not self._online:
            payload["offline"] = True
        payload.update(fields)
        return payload

    def _queue_event(self: Ocpp201Adapter, tx_id: str, build: Any, at: float) -> None:
        """Number, queue (persisted) and send an event of a running transaction."""
        seq_no = self.seq.peek(tx_id)
        self.store.enqueue("TransactionEvent", build(seq_no), tx_id, at)
        self.seq.commit(tx_id, seq_no)
        self.outbox.wake()

    def _sample(
        self: Ocpp201Adapter,
        reading: Any,
        measurands: tuple[str, str],
        context: str,
        at: float,
        connector: int,
    ) -> dict[str, Any] | None:
        """A MeterValue of the measurands listed in that variable, or None (nothing to
        report, or SampledDataCtrlr disabled)."""
        component, name = measurands
        if component == "SampledDataCtrlr" and not self._v(component, "Enabled"):
            return None
        c = self.rt.station.connectors.get(connector)
        offered = c.offered_a if c is not None else 0.0
        return meter_value(reading, self._measurands(component, name), context, at, offered)

    def _transaction_started(self: Ocpp201Adapter, d: TransactionStarted) -> None:
        tx = d.transaction
        if not self._plugged.get(tx.connector, True):
            trigger = "CablePluggedIn"  # the EV was the last thing missing
        else:
            trigger = "RemoteStart" if tx.remote_start_id is not None else "Authorized"
        info: dict[str, Any] = {"chargingState": "EVConnected"}
        if tx.remote_start_id is not None:
            info["remoteStartId"] = tx.remote_start_id
        fields: dict[str, Any] = {
            "evse": {"id": tx.connector, "connectorId": 1},
            "idToken": id_token(tx.id_tag, self._token_type(tx.id_tag)),
        }
        begin = self._sample(d.reading, TX_STARTED, "Transaction.Begin", d.at, tx.connector)
        if begin:
            fields["meterValue"] = [begin]
        payload = self._event("Started", trigger, tx.id, 0, d.at, info, **fields)
        self.store.start_transaction(tx, ("TransactionEvent", payload), d.at)
        self.seq.commit(tx.id, 0)
        kept = self._sample(d.reading, TX_ENDED, "Transaction.Begin", d.at, tx.connector)
        if kept:
            self.store.record_sample(tx.id, tx.meter_start_wh, kept, None, d.at)
        self._connector_tx[tx.connector] = tx.id
        self._charging_state[tx.id] = "EVConnected"
        self.outbox.wake()
        log.info(
            "transaction %s started on EVSE %d for %s at %d Wh (%s)",
            tx.id,
            tx.connector,
            tx.id_tag,
            tx.meter_start_wh,
            trigger,
        )

    def _transaction_ended(self: Ocpp201Adapter, d: TransactionEnded) -> None:
        tx = d.transaction
        c = self.rt.station.connectors.get(tx.connector)
        plugged = c is not None and c.plugged
        info = {
            "stoppedReason": stopped_reason(d.reason, d.fault),
            "chargingState": "EVConnected" if plugged else "Idle",
        }
        fields: dict[str, Any] = {"evse": {"id": tx.connector, "connectorId": 1}}
        if d.id_tag:
            fields["idToken"] = id_token(d.id_tag, self._token_type(d.id_tag))
        values = self.store.transaction_samples(tx.id)
        end = self._sample(d.reading, TX_ENDED, "Transaction.End", d.at, tx.connector)
        if end:
            values.append(end)
        if values:
            fields["meterValue"] = values
        seq_no = self.seq.peek(tx.id)
        payload = self._event("Ended", ended_trigger(d.reason), tx.id, seq_no, d.at, info, **fields)
        self.store.end_transaction(tx.id, ("TransactionEvent", payload), d.at)
        self.seq.commit(tx.id, seq_no)
        if self._connector_tx.get(tx.connector) == tx.id:
            del self._connector_tx[tx.connector]
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
        if self._reset_when_idle and not self.rt.station.transactions():
            self._reset_when_idle = False
            self._reset_now("OnIdle")

    def _aligned_due(
        self: Ocpp201Adapter, tx_id: str | None, kind: object, interval: int, at: float
    ) -> bool:
        """A clock-aligned sample at `at` falls on a boundary of `interval` not yet used."""
        if interval <= 0 or at % interval >= ALIGNED_WINDOW_S:
            return False
        slot = int(at // interval)
        if self._aligned_slots.get((tx_id, kind)) == slot:
            return False
        self._aligned_slots[(tx_id, kind)] = slot
        return True

    def _meter_sampled(self: Ocpp201Adapter, d: MeterSampled) -> None:
        tx, v = d.transaction, self._v
        if tx is None:  # clock-aligned, no transaction: not kept while offline
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

    def _interval_due(
        self: Ocpp201Adapter, last: dict[str, float], tx: Any, name: str, at: float
    ) -> bool:
        """A periodic sample at `at` is one for SampledDataCtrlr.`name` (the core samples at
        the greatest common divisor of TxUpdatedInterval and TxEndedInterval)."""
        every = int(self._v("SampledDataCtrlr", name))
        if every <= 0 or at - last.get(tx.id, tx.started_at) < every - SLACK_S:
            return False
        last[tx.id] = at
        return True

    def _charging_states(self: Ocpp201Adapter, connectors: list[Connector]) -> None:
        """Charging-state changes of connectors with a transaction, as settled after a pass
        of the core (not every intermediate status): an Updated event each."""
        for c in connectors:
            tx = c.transaction
            if tx is None or self._connector_tx.get(c.id) != tx.id:
                continue
            state = CHARGING_STATE.get(c.status)
            if state == "SuspendedEV" and not c.plugged:
                state = "Idle"  # the EV left, the transaction goes on (StopTxOnEVSideDisconnect)
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
            now = self._status_at.get(c.id) or time.time()
            self._queue_event(
                tx.id,
                lambda seq_no, tx_id=tx.id, trigger=trigger, info=info, at=now: self._event(
                    "Updated", trigger, tx_id, seq_no, at, info
                ),
                now,
            )

    def _trigger_transaction_event(self: Ocpp201Adapter, connector: int) -> None:
        """TriggerMessage TransactionEvent: an Updated event with the current meter value."""
        c = self.rt.station.connectors[connector]
        tx = c.transaction
        if tx is None:
            return
        now = time.time()
        fields: dict[str, Any] = {}
        value = self._sample(
            self.rt.station.readings.get(connector), TX_UPDATED, "Trigger", now, connector
        )
        if value:
            fields["meterValue"] = [value]
        info = {"chargingState": self._charging_state.get(tx.id, "EVConnected")}
        self._queue_event(
            tx.id,
            lambda seq_no: self._event("Updated", "Trigger", tx.id, seq_no, now, info, **fields),
            now,
        )
