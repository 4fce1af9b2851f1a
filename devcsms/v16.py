"""The strict OCPP 1.6J CSMS: `Csms`, its stations' sessions and its ledger of transactions.

`Ledger16.violations` gets, besides what every version checks (schema errors, timestamps
without a UTC offset, messages while the registration is Rejected/Pending, ...): unknown
or twice-stopped transactions, a StartTransaction repeated without a lost answer, a second
transaction on a connector, MeterValues for unknown/stopped transactions or on another
connector, meterStop < meterStart. Transaction ids are assigned from 1 upwards. Typical
test use::

    csms = Csms()
    await csms.start()                      # binds 127.0.0.1 on a free port
    ... station connects to f"{csms.url}/CP-001" with subprotocol "ocpp1.6" ...
    entry = await csms.wait_for("StartTransaction", timeout=2)
    reply = await csms.call("CP-001", "RemoteStopTransaction", {"transactionId": 1})
    assert not csms.ledger.violations
    await csms.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from .ledger import Ledger
from .server import CsmsServer
from .session import Session

log = logging.getLogger("chargerd.csms")  # the name soak and bench configure


@dataclass
class TxRecord:
    transaction_id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    start_timestamp: str
    id_tag_status: str = "Accepted"  # what StartTransaction.conf answered
    reservation_id: int | None = None
    meter_stop: int | None = None
    stop_reason: str | None = None  # None also when the station omitted it (= Local)
    stop_timestamp: str | None = None
    stop_id_tag: str | None = None
    transaction_data: list | None = None
    meter_values: list = field(default_factory=list)  # MeterValue objects (camelCase dicts)
    start_count: int = 1  # StartTransaction.req received for it (>1: the station retried)
    stop_count: int = 0  # StopTransaction.req received for it
    # session serials, to tell a retry after a reconnect from a double send
    start_serial: int = field(default=0, repr=False)
    stop_serial: int = field(default=0, repr=False)
    stop_payload: dict | None = field(default=None, repr=False)

    @property
    def stopped(self) -> bool:
        return self.stop_count > 0

    @property
    def ended(self) -> bool:  # the ledger's word for it, shared with 2.0.1
        return self.stopped


@dataclass
class Ledger16(Ledger[TxRecord]):
    transactions: dict[int, TxRecord] = field(default_factory=dict)
    diagnostics_status: dict[str, str] = field(default_factory=dict)
    # StopTransaction.req whose transactionId was not known (incl. the errata's -1)
    unknown_stops: list[tuple[str, dict]] = field(default_factory=list)
    next_transaction_id: int = 1


class Session16(Session, ChargePoint16):
    """One station speaking OCPP 1.6J ("ocpp1.6")."""

    ocpp_version = "1.6"
    actions = Action
    results = call_result
    csms: Csms

    def asked_for_while_pending(self, action: str) -> bool:
        # one message per TriggerMessage
        if action in self.memory.triggered:
            self.memory.triggered.discard(action)
            return True
        return False

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        p = self.payload
        self.csms.ledger.status[(self.id, p["connectorId"])] = (p["status"], p["errorCode"])
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        status = self.csms.id_tag_status(self.payload["idTag"])
        return call_result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    def on_start_transaction(self, **_: Any) -> call_result.StartTransaction:
        p = self.payload
        ledger = self.csms.ledger
        status = self.csms.id_tag_status(p["idTag"])
        key = (p["connectorId"], p["idTag"], p["meterStart"], p["timestamp"])
        tx = next(
            (
                t
                for t in ledger.transactions.values()
                if t.station_id == self.id
                and (t.connector_id, t.id_tag, t.meter_start, t.start_timestamp) == key
            ),
            None,
        )
        if tx is not None:  # the same StartTransaction again: answer the same id
            tx.start_count += 1
            if not self.tolerated_retry(tx.start_serial):
                self.csms.violation(
                    self.id,
                    f"StartTransaction sent twice (connector {tx.connector_id}, idTag "
                    f"{tx.id_tag}, {tx.start_timestamp}); answered transaction "
                    f"{tx.transaction_id} again",
                )
            if tx.stopped:
                self.csms.violation(
                    self.id,
                    f"StartTransaction repeated after transaction {tx.transaction_id} was stopped",
                )
            tx.start_serial = self.serial
            return call_result.StartTransaction(
                transaction_id=tx.transaction_id, id_tag_info={"status": status}
            )
        for other in ledger.active_transactions(self.id):
            if other.connector_id == p["connectorId"]:
                self.csms.violation(
                    self.id,
                    f"StartTransaction on connector {p['connectorId']} while transaction "
                    f"{other.transaction_id} is not stopped",
                )
        tx_id = ledger.next_transaction_id
        ledger.next_transaction_id += 1
        ledger.transactions[tx_id] = TxRecord(
            transaction_id=tx_id,
            station_id=self.id,
            connector_id=p["connectorId"],
            id_tag=p["idTag"],
            meter_start=p["meterStart"],
            start_timestamp=p["timestamp"],
            id_tag_status=status,
            reservation_id=p.get("reservationId"),
            start_serial=self.serial,
        )
        return call_result.StartTransaction(transaction_id=tx_id, id_tag_info={"status": status})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **_: Any) -> call_result.StopTransaction:
        p = self.payload
        ledger = self.csms.ledger
        tx_id = p["transactionId"]
        tx = ledger.transactions.get(tx_id)
        if tx is None or tx.station_id != self.id:
            ledger.unknown_stops.append((self.id, p))
            if tx_id == -1:  # errata: no StartTransaction.conf ever arrived
                log.warning("%s: StopTransaction with transactionId -1 (errata)", self.id)
            else:
                self.csms.violation(self.id, f"StopTransaction for unknown transaction {tx_id}")
        elif tx.stopped:
            tx.stop_count += 1
            if p == tx.stop_payload and self.tolerated_retry(tx.stop_serial):
                log.info("%s: StopTransaction %s retried (answer was lost)", self.id, tx_id)
            else:
                self.csms.violation(self.id, f"second StopTransaction for transaction {tx_id}")
            tx.stop_serial = self.serial
        else:
            tx.stop_count = 1
            tx.stop_payload = p
            tx.stop_serial = self.serial
            tx.meter_stop = p["meterStop"]
            tx.stop_timestamp = p["timestamp"]
            tx.stop_reason = p.get("reason")
            tx.stop_id_tag = p.get("idTag")
            tx.transaction_data = p.get("transactionData")
            if tx.meter_stop < tx.meter_start:
                self.csms.violation(
                    self.id,
                    f"StopTransaction {tx_id}: meterStop {tx.meter_stop} < meterStart "
                    f"{tx.meter_start}",
                )
        id_tag_info = {"status": "Accepted"} if "idTag" in p else None
        return call_result.StopTransaction(id_tag_info=id_tag_info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        p = self.payload
        ledger = self.csms.ledger
        tx_id = p.get("transactionId")
        if tx_id is None:
            ledger.meter_values_without_tx.append((self.id, p["connectorId"], p["meterValue"]))
            return call_result.MeterValues()
        tx = ledger.transactions.get(tx_id)
        if tx is None or tx.station_id != self.id:
            self.csms.violation(self.id, f"MeterValues for unknown transaction {tx_id}")
        elif tx.stopped:
            # a re-send after a power cut (the station's record of the confirmation was lost)
            # repeats values this CSMS has: recognised, not counted again; new ones are wrong
            if all(v in tx.meter_values for v in p["meterValue"]):
                log.info("%s: MeterValues re-sent after transaction %s stopped", self.id, tx_id)
            else:
                self.csms.violation(self.id, f"MeterValues for stopped transaction {tx_id}")
        else:
            if tx.connector_id != p["connectorId"]:
                self.csms.violation(
                    self.id,
                    f"MeterValues for transaction {tx_id} on connector {p['connectorId']}, "
                    f"but it runs on connector {tx.connector_id}",
                )
            values = p["meterValue"]
            if self.replaying_lost_answer and all(v in tx.meter_values for v in values):
                log.info("%s: MeterValues retried (answer was lost); not counted twice", self.id)
            else:
                tx.meter_values.extend(values)
        return call_result.MeterValues()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        self.csms.ledger.diagnostics_status[self.id] = self.payload["status"]
        return call_result.DiagnosticsStatusNotification()

    # Security whitepaper extension (1.6): notifications only, acknowledged.
    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(
        self, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        self.csms.ledger.firmware_status[self.id] = self.payload["status"]
        return call_result.SignedFirmwareStatusNotification()


class Csms(CsmsServer):
    """OCPP 1.6J Central System (subprotocol "ocpp1.6"); see the module docstring."""

    protocols: Mapping[str, type[Session]] = {"ocpp1.6": Session16}
    ledger: Ledger16

    def new_ledger(self) -> Ledger16:
        return Ledger16()
