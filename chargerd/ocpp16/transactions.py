"""OCPP 1.6 transaction messages: StartTransaction, MeterValues and StopTransaction from the
core's decisions, kept in the outbox until the CSMS confirms them; the CSMS's transaction id
filled in when they are sent. A part of `Ocpp16Adapter` (a mixin)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hal.interfaces import MeterReading

from ..adapter import Runtime
from ..core.model import MeterSampled, TransactionEnded, TransactionStarted
from ..outbox import Outbox
from ..store import OutboxMessage, Store
from .payloads import auth_info, meter_value, stop_reason, timestamp

if TYPE_CHECKING:
    from ..blocks import Blocks

log = logging.getLogger("chargerd.ocpp16")


class TransactionMessages:
    # what the adapter provides
    store: Store
    outbox: Outbox
    rt: Runtime
    _measurands: Callable[[str], list[str]]
    _spawn: Callable[[Any], None]
    blocks: Blocks

    def _transaction_started(self, d: TransactionStarted) -> None:
        tx = d.transaction
        smart = self.blocks.made("smart")  # (none made: no RemoteStart TxProfile waits)
        if smart is not None:
            smart.transaction_started(tx)  # a RemoteStart TxProfile binds to it
        payload = {
            "connectorId": tx.connector,
            "idTag": tx.id_tag,
            "meterStart": tx.meter_start_wh,
            "timestamp": timestamp(d.at),
        }
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id
        self.store.start_transaction(tx, ("StartTransaction", payload), d.at)
        if d.reading is not None:
            begin = self._stop_txn_sample(
                d.reading, "Sample.Periodic", "Transaction.Begin", d.at, tx.connector
            )
            if begin:
                self.store.record_sample(tx.id, tx.meter_start_wh, begin, None, d.at)
        self.outbox.wake()
        log.info("transaction %s started on connector %d for %s at %d Wh",
                 tx.id, tx.connector, tx.id_tag, tx.meter_start_wh)  # fmt: skip

    def _transaction_ended(self, d: TransactionEnded) -> None:
        tx = d.transaction
        payload: dict[str, Any] = {
            "meterStop": d.meter_stop_wh,
            "timestamp": timestamp(d.at),
            "reason": stop_reason(d.reason),
        }
        if d.id_tag:
            payload["idTag"] = d.id_tag
        samples = self.store.transaction_samples(tx.id)
        if d.reading is not None:
            end = self._stop_txn_sample(
                d.reading, "Sample.Periodic", "Transaction.End", d.at, tx.connector
            )
            if end:
                samples.append(end)
        if samples:
            payload["transactionData"] = samples
        self.store.end_transaction(tx.id, ("StopTransaction", payload), d.at)
        self.outbox.wake()
        log.info("transaction %s on connector %d ended (%s) at %d Wh",
                 tx.id, tx.connector, d.reason, d.meter_stop_wh)  # fmt: skip

    def _stop_txn_sample(
        self, reading: MeterReading, key_context: str, context: str, at: float, connector: int
    ) -> dict[str, Any] | None:
        key = "StopTxnSampledData" if key_context == "Sample.Periodic" else "StopTxnAlignedData"
        return meter_value(reading, self._measurands(key), context, at, self._offered(connector))

    def _offered(self, connector: int) -> float:
        """The current offered on `connector` now (for Current.Offered / Power.Offered)."""
        return self.rt.station.connectors[connector].offered_a

    def _meter_sampled(self, d: MeterSampled) -> None:
        periodic = d.context == "Sample.Periodic"
        key = "MeterValuesSampledData" if periodic else "MeterValuesAlignedData"
        offered = self._offered(d.connector)
        value = meter_value(d.reading, self._measurands(key), d.context, d.at, offered)
        message = None
        if value is not None:
            message = ("MeterValues", {"connectorId": d.connector, "meterValue": [value]})
        tx = d.transaction
        if tx is None:
            if message is not None:  # not transaction-related: not kept while offline
                self.outbox.post(*message)
            return
        kept = self._stop_txn_sample(d.reading, d.context, d.context, d.at, d.connector)
        self.store.record_sample(tx.id, tx.last_meter_wh, kept, message, d.at)
        if message is not None:
            self.outbox.wake()

    # --- the outbox's callbacks --------------------------------------------------------------

    def _prepare(self, message: OutboxMessage) -> dict[str, Any]:
        """Fill in the transaction id the CSMS assigned (known only once Start was answered)."""
        payload = dict(message.payload)
        if message.tx_id is not None and message.action != "StartTransaction":
            csms_id = self.store.csms_id(message.tx_id)
            if csms_id is not None:
                payload["transactionId"] = int(csms_id)
            elif message.action == "StopTransaction":
                payload["transactionId"] = -1  # errata: no StartTransaction.conf ever came
        return payload

    def _delivered(self, message: OutboxMessage, answer: dict[str, Any] | None) -> None:
        if message.action == "StartTransaction" and answer is not None:
            self.store.delivered(message, csms_id=str(answer["transactionId"]))
            tx_id, info = message.tx_id, auth_info(answer["idTagInfo"])
            station = self.rt.station
            # the verdict matters only to a transaction still running (not to a replayed one,
            # whose line at info level cost a tenth of the station's time per replayed CALL)
            running = tx_id is not None and station.find_transaction(tx_id) is not None
            log.log(
                logging.INFO if running else logging.DEBUG,
                "transaction %s is %s at the CSMS", tx_id, answer["transactionId"],
            )  # fmt: skip
            if running:
                self._spawn(
                    self.rt.feed(lambda now: station.transaction_confirmed(tx_id, info, now))
                )
        else:
            # a StartTransaction sent twice opens two transactions at the CSMS: its confirmation
            # is synced before the next answer is looked at; anything else sent again after a
            # power cut is recognised
            durable = message.action == "StartTransaction"
            self.store.delivered(message, last=message.action == "StopTransaction", durable=durable)
