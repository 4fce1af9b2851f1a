"""The strict OCPP 2.0.1 CSMS: `Csms201`, its stations' sessions and its ledger.

The same machinery as the 1.6 `Csms` (recording, fail_next, send_raw, call, disconnect,
stop/start, wait_for, Basic auth, subprotocol check), with a 2.0.1 session on the server
side of the `ocpp` package (`ocpp.v201.ChargePoint`) under subprotocol "ocpp2.0.1", and
a ledger of what 2.0.1 is about (`Ledger201`):

- transactions by transactionId (`Tx201`): every TransactionEvent, its seqNo, whether it
  was flagged offline; stoppedReason, remoteStartId, meter values;
- statuses per (station, evseId, connectorId); NotifyReport pages per requestId;
  NotifyEvent data; SecurityEventNotifications; MeterValues outside transactions;
- `violations`: schema errors, a seqNo that skips or repeats (a repeat of an event whose
  answer was lost is tolerated), events of unknown or ended transactions, a second
  Started, a Started without evse, NotifyReport pages out of order, messages while
  Pending/Rejected that the CSMS did not ask for, timestamps without a UTC offset, ...

Typical test use::

    csms = Csms201()
    await csms.start()
    entry = await csms.wait_for("TransactionEvent", timeout=2)
    reply = await csms.call("CP-001", "RequestStopTransaction", {"transactionId": tx})
    assert not csms.ledger.violations
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .frames import dumps
from .ledger import Ledger
from .server import CsmsServer
from .session import Session

log = logging.getLogger("chargerd.csms")  # the name soak and bench configure


@dataclass
class Tx201:
    """One transaction as the CSMS saw it (keyed by the station's transactionId)."""

    transaction_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    events: list[dict] = field(default_factory=list)  # TransactionEvent payloads, in order
    seq_nos: list[int] = field(default_factory=list)  # as received (repeats included)
    offline_seq_nos: list[int] = field(default_factory=list)  # events flagged offline: true
    remote_start_id: int | None = None
    stopped_reason: str | None = None
    ended: bool = False
    charging_states: list[str] = field(default_factory=list)
    # payload and connection serial per seqNo, to tell a retry after a lost answer
    _seen: dict[int, tuple[str, int]] = field(default_factory=dict, repr=False)

    @property
    def event_types(self) -> list[str]:
        return [e["eventType"] for e in self.events]

    @property
    def trigger_reasons(self) -> list[str]:
        return [e["triggerReason"] for e in self.events]

    @property
    def meter_values(self) -> list[dict]:
        return [mv for e in self.events for mv in e.get("meterValue", [])]

    @property
    def next_seq_no(self) -> int:
        return max(self.seq_nos, default=-1) + 1


@dataclass
class Ledger201(Ledger[Tx201]):
    transactions: dict[str, Tx201] = field(default_factory=dict)
    # (station, evseId, connectorId) -> connectorStatus
    statuses: dict[tuple[str, int, int], str] = field(default_factory=dict)
    reports: dict[int, list[dict]] = field(default_factory=dict)  # requestId -> NotifyReport
    events: list[dict] = field(default_factory=list)  # NotifyEvent eventData entries
    security_events: list[dict] = field(default_factory=list)
    reservation_updates: list[dict] = field(default_factory=list)  # ReservationStatusUpdate
    display_messages: dict[int, list[dict]] = field(default_factory=dict)  # requestId -> pages
    # requestId -> ReportChargingProfiles pages; NotifyChargingLimit / ClearedChargingLimit
    profile_reports: dict[int, list[dict]] = field(default_factory=dict)
    charging_limits: list[tuple[str, dict]] = field(default_factory=list)
    monitoring_reports: dict[int, list[dict]] = field(default_factory=dict)  # requestId -> pages
    customer_information: dict[int, list[dict]] = field(default_factory=dict)  # requestId -> pages

    def report(self, request_id: int) -> list[dict]:
        """All reportData of a finished (or unfinished) report, in page order."""
        return [d for page in self.reports.get(request_id, []) for d in page.get("reportData", [])]


class Session201(Session, ChargePoint201):
    """One station speaking OCPP 2.0.1 ("ocpp2.0.1")."""

    ocpp_version = "2.0.1"
    actions = Action
    results = call_result
    csms: Csms201

    def asked_for_while_pending(self, action: str) -> bool:
        if action == "NotifyReport" and self.csms.open_reports.get(self.id):
            return True  # asked for with GetBaseReport
        return action in self.memory.triggered  # by TriggerMessage (possibly one per EVSE)

    def after_call(self, action: str, payload: dict, response: dict) -> None:
        super().after_call(action, payload, response)
        if action in ("GetBaseReport", "GetReport") and response.get("status") == "Accepted":
            self.csms.open_reports.setdefault(self.id, set()).add(payload["requestId"])

    # ---- provisioning

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        p = self.payload
        if p["evseId"] < 1 or p["connectorId"] < 1:
            self.csms.violation(
                self.id, f"StatusNotification for evse {p['evseId']} connector {p['connectorId']}"
            )
        key = (self.id, p["evseId"], p["connectorId"])
        self.csms.ledger.statuses[key] = p["connectorStatus"]
        self.csms.ledger.status[(self.id, p["evseId"])] = (p["connectorStatus"], "")
        return call_result.StatusNotification()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> call_result.NotifyReport:
        p = self.payload
        ledger, request_id = self.csms.ledger, p["requestId"]
        pages = ledger.reports.setdefault(request_id, [])
        if p["seqNo"] != len(pages):
            self.csms.violation(
                self.id,
                f"NotifyReport {request_id}: seqNo {p['seqNo']}, expected {len(pages)}",
            )
        if pages and not pages[-1].get("tbc", False):
            self.csms.violation(self.id, f"NotifyReport {request_id}: a page after the last")
        pages.append(p)
        if not p.get("tbc", False):
            self.csms.open_reports.get(self.id, set()).discard(request_id)
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        self.csms.ledger.events.extend(self.payload["eventData"])
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        self.csms.ledger.security_events.append(self.payload)
        return call_result.SecurityEventNotification()

    @on(Action.reservation_status_update)
    def on_reservation_status_update(self, **_: Any) -> call_result.ReservationStatusUpdate:
        self.csms.ledger.reservation_updates.append(self.payload)
        return call_result.ReservationStatusUpdate()

    # ---- authorization and transactions

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info=self._token_info(self.payload["idToken"]))

    def _token_info(self, token: dict) -> dict:
        """idTokenInfo: the token's status, and its personalMessage when the test set one."""
        info: dict[str, Any] = {"status": self.csms.id_tag_status(token["idToken"])}
        if token["idToken"] in self.csms.personal_messages:
            info["personalMessage"] = self.csms.personal_messages[token["idToken"]]
        return info

    @on(Action.transaction_event)
    def on_transaction_event(self, **_: Any) -> call_result.TransactionEvent:
        p = self.payload
        self._record_event(p)
        extra = self.csms.transaction_answer(p) if self.csms.transaction_answer else {}
        if "idToken" in p:
            info = self._token_info(p["idToken"])
            return call_result.TransactionEvent(id_token_info=info, **extra)
        return call_result.TransactionEvent(**extra)

    def _record_event(self, p: dict) -> None:
        ledger, violation = self.csms.ledger, self.csms.violation
        info, kind, seq_no = p["transactionInfo"], p["eventType"], p["seqNo"]
        tx_id = info["transactionId"]
        tx = ledger.transactions.get(tx_id)
        evse = p.get("evse") or {}
        if kind == "Started" and tx is None:
            if not evse:
                violation(self.id, f"TransactionEvent Started {tx_id} without evse")
            for other in ledger.active_transactions(self.id):
                if evse and other.evse_id == evse.get("id"):
                    violation(
                        self.id,
                        f"Started {tx_id} on EVSE {evse.get('id')} while transaction "
                        f"{other.transaction_id} has not ended",
                    )
            tx = Tx201(
                tx_id,
                self.id,
                evse.get("id"),
                evse.get("connectorId"),
                (p.get("idToken") or {}).get("idToken"),
            )
            ledger.transactions[tx_id] = tx
        elif tx is None or tx.station_id != self.id:
            violation(self.id, f"TransactionEvent {kind} seqNo {seq_no} of unknown tx {tx_id}")
            return
        canonical = dumps(p)
        seen = tx._seen.get(seq_no)
        if seen is not None:
            tx.seq_nos.append(seq_no)
            if seen[0] != canonical:
                violation(self.id, f"tx {tx_id}: seqNo {seq_no} reused for a different event")
            elif not self.tolerated_retry(seen[1]):
                violation(self.id, f"tx {tx_id}: seqNo {seq_no} sent twice")
            else:
                log.info(
                    "%s: TransactionEvent %s seqNo %d retried (answer was lost)",
                    self.id,
                    tx_id,
                    seq_no,
                )
            tx._seen[seq_no] = (canonical, self.serial)
            return
        if kind == "Started" and tx.events:
            violation(self.id, f"tx {tx_id}: a second Started (seqNo {seq_no})")
        if tx.ended:
            violation(self.id, f"tx {tx_id}: {kind} seqNo {seq_no} after Ended")
        expected = tx.next_seq_no
        if seq_no != expected:
            violation(self.id, f"tx {tx_id}: seqNo {seq_no} where {expected} was next")
        tx._seen[seq_no] = (canonical, self.serial)
        tx.seq_nos.append(seq_no)
        tx.events.append(p)
        if p.get("offline"):
            tx.offline_seq_nos.append(seq_no)
        if "remoteStartId" in info:
            tx.remote_start_id = info["remoteStartId"]
        if "chargingState" in info:
            tx.charging_states.append(info["chargingState"])
        if kind == "Ended":
            tx.ended = True
            tx.stopped_reason = info.get("stoppedReason", "Local")

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        p = self.payload
        self.csms.ledger.meter_values_without_tx.append((self.id, p["evseId"], p["meterValue"]))
        return call_result.MeterValues()

    # ---- everything else a station may send: acknowledged and recorded in the entries

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> call_result.NotifyChargingLimit:
        self.csms.ledger.charging_limits.append(("NotifyChargingLimit", self.payload))
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **_: Any) -> call_result.ClearedChargingLimit:
        self.csms.ledger.charging_limits.append(("ClearedChargingLimit", self.payload))
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> call_result.ReportChargingProfiles:
        p = self.payload
        pages = self.csms.ledger.profile_reports.setdefault(p["requestId"], [])
        if pages and not pages[-1].get("tbc", False):
            self.csms.violation(
                self.id, f"ReportChargingProfiles {p['requestId']}: a report after the last"
            )
        pages.append(p)
        return call_result.ReportChargingProfiles()

    @on(Action.notify_display_messages)
    def on_notify_display_messages(self, **_: Any) -> call_result.NotifyDisplayMessages:
        pages = self.csms.ledger.display_messages.setdefault(self.payload["requestId"], [])
        pages.append(self.payload)
        return call_result.NotifyDisplayMessages()

    @on(Action.notify_monitoring_report)
    def on_notify_monitoring_report(self, **_: Any) -> call_result.NotifyMonitoringReport:
        self.csms.ledger.monitoring_reports.setdefault(self.payload["requestId"], []).append(
            self.payload
        )
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    def on_notify_customer_information(self, **_: Any) -> call_result.NotifyCustomerInformation:
        pages = self.csms.ledger.customer_information.setdefault(self.payload["requestId"], [])
        pages.append(self.payload)
        return call_result.NotifyCustomerInformation()


class Csms201(CsmsServer):
    """OCPP 2.0.1 Central System (subprotocol "ocpp2.0.1"); see the module docstring."""

    protocols: Mapping[str, type[Session]] = {"ocpp2.0.1": Session201}
    ledger: Ledger201

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_reports: dict[str, set[int]] = {}  # station -> requestIds not finished
        # idToken -> personalMessage (MessageContentType) in its idTokenInfo (tariffs, I01)
        self.personal_messages: dict[str, dict] = {}
        # TransactionEvent payload -> more of the answer (total_cost, updated_personal_message)
        self.transaction_answer: Callable[[dict], dict] | None = None

    def new_ledger(self) -> Ledger201:
        return Ledger201()
