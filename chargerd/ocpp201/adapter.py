"""OCPP 2.0.1 Core: the core's decisions as messages, the CSMS's requests as events.

Shares the core, HAL, store, outbox, RPC and link with 1.6; what differs lives here:
- one TransactionEvent (Started / Updated / Ended) per transaction change, with the
  station's own transaction id, a gap-free `seqNo` (sequencing.py) and `offline: true`
  for events that happened while the CSMS was not reachable;
- configuration is the device model (device_model.py, variables.py), mapped onto the
  core's rules in `_apply_settings`;
- StatusNotification per EVSE/connector with the 2.0.1 connector statuses; the charging
  state travels in TransactionEvent;
- the Local Authorization List (local_list.py). The core asks this adapter about every id
  tag (its `online` flag stays true); while offline the adapter answers from the list,
  or hands the tag back with `authorization_failed` so the core's offline rules (cache,
  OfflineTxForUnknownIdEnabled) decide.

The CSMS's requests are answered in requests.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from ..adapter import Runtime
from ..config import Config
from ..connection import CsmsConnection
from ..core.connector import Connector
from ..core.model import (
    AuthorizationRejected,
    AvailabilityChanged,
    CacheAuthorization,
    CoreSettings,
    Decision,
    MeterSampled,
    RequestAuthorization,
    StatusChanged,
    TransactionEnded,
    TransactionStarted,
)
from ..outbox import Outbox, RetryPolicy
from ..rpc import OCPP201, CallError, ConnectionLost
from ..store import OutboxMessage, Store
from .device_model import ACTUAL, DeviceModel, Value, Variable
from .local_list import LocalList
from .payloads import (
    DEFAULT_TOKEN_TYPE,
    auth_info,
    connector_status,
    id_token,
    timestamp,
)
from .requests import SUPPORTED, Requests
from .sequencing import SeqNumbers
from .transactions import TransactionEvents
from .variables import catalogue

log = logging.getLogger("chargerd.ocpp201")

BOOT_REASON_KEY = "ocpp201.boot_reason"  # store meta: why the next boot happens
EVENT_ID_KEY = "ocpp201.last_event_id"  # store meta: NotifyEvent eventId counter


def _gcd(*intervals: int) -> int:
    positive = [i for i in intervals if i > 0]
    return math.gcd(*positive) if positive else 0


class Ocpp201Adapter(TransactionEvents, Requests, CsmsConnection):
    subprotocol = "ocpp2.0.1"
    version = OCPP201
    supported = SUPPORTED

    def __init__(self, config: Config, store: Store):
        CsmsConnection.__init__(self)
        self.config = config
        self.store = store
        self.local_list = LocalList(store)
        self.variables = catalogue(config)
        self.dm = DeviceModel(self.variables, store, config.ocpp, self._dynamic)
        for warning in self.dm.warnings:
            log.warning("device model: %s", warning)
        self.seq = SeqNumbers(store)
        for tx_id, next_seq in self.seq.repair():
            log.warning(
                "transaction %s: seqNo repaired after a power cut; next is %d", tx_id, next_seq
            )
        self.settings = CoreSettings()
        self._online = False  # connected and registered: events are not "offline"
        self._apply_settings()
        self.registration = "Unknown"  # BootNotification status: Accepted, Pending, Rejected
        self.boot_reason = store.get_meta(BOOT_REASON_KEY) or "PowerUp"
        self._boot_triggered = False
        self._boot_now = asyncio.Event()
        self._problems: dict[int, bool] = {}  # connector -> Problem reported by NotifyEvent
        self._plugged: dict[int, bool] = {}  # connector -> EV plugged at the last flush
        self._status_at: dict[int, float] = {}  # connector -> time of its last status change
        self._connector_tx: dict[int, str] = {}  # transactions started in this run
        self._charging_state: dict[str, str] = {}
        self._last_updated: dict[str, float] = {}  # tx -> last periodic Updated
        self._last_kept: dict[str, float] = {}  # tx -> last periodic sample kept for Ended
        self._aligned_slots: dict[tuple[str | None, object], int] = {}
        self._token_types: dict[str, str] = {}  # casefolded id token -> IdTokenEnumType
        self._reset_when_idle = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.outbox = Outbox(
            store,
            retry_policy=lambda: RetryPolicy(
                max(
                    1, int(self._v("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"))
                ),
                float(
                    self._v("OCPPCommCtrlr", "MessageAttemptInterval", instance="TransactionEvent")
                ),
            ),
            prepare=lambda message: message.payload,  # complete when queued
            delivered=self._delivered,
            call_timeout_s=config.csms.call_timeout_s,
        )

    def bind(self, runtime: Runtime) -> None:
        self.rt = runtime
        # The core asks about every id tag; this adapter knows whether the CSMS can answer.
        runtime.station.link_changed(True)

    def ping_interval_s(self) -> float:
        return float(self._v("OCPPCommCtrlr", "WebSocketPingInterval"))

    # --- the device model ----------------------------------------------------------------------

    def _v(self, component: str, name: str, **where: Any) -> Value:
        return self.dm.value(component, name, **where)

    def _measurands(self, component: str, name: str) -> list[str]:
        return [m for m in str(self._v(component, name)).split(",") if m]

    def _apply_settings(self) -> None:
        v, s = self._v, self.settings
        s.connection_timeout_s = int(v("TxCtrlr", "EVConnectionTimeOut"))
        stop_points = set(str(v("TxCtrlr", "TxStopPoint")).split(","))
        s.stop_on_ev_disconnect = "EVConnected" in stop_points or bool(
            v("TxCtrlr", "StopTxOnEVSideDisconnect")
        )
        s.unlock_on_ev_disconnect = True
        pre_authorize = bool(v("AuthCtrlr", "LocalPreAuthorize"))
        offline_local = bool(v("AuthCtrlr", "LocalAuthorizeOffline"))
        # offline, a cached tag is taken at once only if LocalAuthorizeOffline allows it
        s.local_pre_authorize = pre_authorize and (self._online or offline_local)
        s.local_authorize_offline = offline_local
        s.allow_offline_unknown_id = bool(v("AuthCtrlr", "OfflineTxForUnknownIdEnabled"))
        s.authorize_remote_start = bool(v("AuthCtrlr", "AuthorizeRemoteStart"))
        s.stop_on_invalid_id = bool(v("TxCtrlr", "StopTxOnInvalidId"))
        s.max_energy_on_invalid_id_wh = int(v("TxCtrlr", "MaxEnergyOnInvalidId"))
        s.auth_cache_enabled = bool(v("AuthCacheCtrlr", "Enabled"))
        # The core samples at one interval: the greatest common divisor of the intervals of
        # the Updated events and of the samples kept for Ended (transactions.py picks them).
        sampled, aligned = "SampledDataCtrlr", "AlignedDataCtrlr"
        s.sample_interval_s = (
            _gcd(int(v(sampled, "TxUpdatedInterval")), int(v(sampled, "TxEndedInterval")))
            if v(sampled, "Enabled")
            else 0
        )
        s.aligned_interval_s = (
            _gcd(int(v(aligned, "Interval")), int(v(aligned, "TxEndedInterval")))
            if v(aligned, "Enabled")
            else 0
        )

    def _variables_changed(self, changed: list[Variable], by: str = "the CSMS") -> None:
        self._apply_settings()
        for var in changed:
            actual = var.attribute(ACTUAL)
            shown = self.dm.read(var) if actual is not None and actual.readable else "***"
            log.info("%s set to %s by %s", var.key, shown, by)
            if var.name == "HeartbeatInterval":
                self.heartbeat_changed()
        security = [v.key for v in changed if v.component.name == "SecurityCtrlr"]
        if security:
            self._security_event("ReconfigurationOfSecurityParameters", ", ".join(security))

    def _set(self, component: str, name: str, value: Value, by: str) -> None:
        var = self.dm.find(component, name)
        if self.dm.read(var) == value:
            return
        self.dm.put(var, value)
        self._variables_changed([var], by)

    def _dynamic(self, var: Variable, attribute: str) -> Value | None:
        comp, name = var.component, var.name
        if comp.name == "ClockCtrlr" and name == "DateTime":
            return timestamp(time.time())
        if comp.name == "LocalAuthListCtrlr" and name == "Entries":
            return len(self.local_list)
        runtime = getattr(self, "rt", None)
        if runtime is None:
            return None
        station = runtime.station
        connectors = list(station.connectors.values())
        if comp.name == "ChargingStation":
            if name == "AvailabilityState":
                return "Unavailable" if all(not c.operative for c in connectors) else "Available"
            if name == "Available":
                return True
            if name == "Problem":
                return any(c.faults for c in connectors)
            return None
        c = station.connectors.get(comp.evse) if comp.evse is not None else None
        if c is None:
            return None
        if name == "AvailabilityState":
            return connector_status(c.status)
        if name == "Available":
            return True
        if name == "Problem":
            return bool(c.faults)
        if name == "Power":
            reading = station.readings.get(c.id)
            return round(reading.power_w, 1) if reading else 0.0
        return None

    # --- the connection --------------------------------------------------------------------

    def _link_changed(self, online: bool) -> None:
        self._online = online
        self._apply_settings()

    def _heartbeat_interval(self) -> int:
        return int(self._v("OCPPCommCtrlr", "HeartbeatInterval"))

    async def _send_heartbeat(self) -> None:
        await self._send("Heartbeat", {})

    def _boot_payload(self) -> dict[str, Any]:
        """The next attempt's BootNotification; reason Triggered when the CSMS asked."""
        info = self.config.station
        station: dict[str, Any] = {
            "model": info.model,
            "vendorName": info.vendor,
            "firmwareVersion": info.firmware_version,
        }
        if info.serial:
            station["serialNumber"] = info.serial
        reason = "Triggered" if self._boot_triggered else self.boot_reason
        self._boot_triggered = False
        self._boot_now.clear()
        return {"reason": reason, "chargingStation": station}

    def _boot_accepted(self, payload: dict[str, Any], interval: int) -> None:
        if interval > 0:
            self._set("OCPPCommCtrlr", "HeartbeatInterval", interval, "BootNotification")
        if self.store.get_meta(BOOT_REASON_KEY):
            self.store.set_meta(BOOT_REASON_KEY, "")
        log.info(
            "BootNotification (%s) accepted; heartbeat every %s s",
            payload["reason"],
            self._v("OCPPCommCtrlr", "HeartbeatInterval"),
        )

    async def _wait_boot(self, seconds: float) -> None:
        """Sleep until the next boot attempt, or until a TriggerMessage asks for it."""
        try:
            async with asyncio.timeout(seconds):
                await self._boot_now.wait()
        except TimeoutError:
            pass

    async def _send(self, action: str, payload: dict[str, Any]) -> None:
        """Send a message that is not kept offline: through the outbox once registered;
        before that (Pending, asked for by the CSMS) straight on the connection."""
        if self.outbox.connected:
            self.outbox.post(action, payload)
            return
        rpc = self._rpc
        if rpc is None or rpc.closed:
            log.info("%s not sent: not connected", action)
            return
        try:
            await rpc.call(action, payload, self.config.csms.call_timeout_s)
        except (CallError, TimeoutError, ConnectionLost) as exc:
            log.warning("%s failed: %s", action, exc or "no answer")

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- status -------------------------------------------------------------------------------

    def flush_status(self) -> None:
        connectors = list(self.rt.station.connectors.values())
        self._charging_states(connectors)
        for c in connectors:
            self._plugged[c.id] = c.plugged
        if not (self._online and self.outbox.connected):
            return
        now = time.time()
        for c in connectors:
            status = connector_status(c.status)
            if self._reported.get(c.id) != status:
                self._reported[c.id] = status
                self.outbox.post("StatusNotification", self._status_payload(c.id, status, now))
            problem = bool(c.faults)
            if self._problems.get(c.id, False) != problem:
                self._problems[c.id] = problem
                self.outbox.post("NotifyEvent", self._problem_event(c, problem, now))

    @staticmethod
    def _status_payload(connector: int, status: str, now: float) -> dict[str, Any]:
        return {
            "timestamp": timestamp(now),
            "connectorStatus": status,
            "evseId": connector,
            "connectorId": 1,
        }

    def _problem_event(self, c: Connector, problem: bool, now: float) -> dict[str, Any]:
        """NotifyEvent: the Connector's Problem variable changed (a fault came or went)."""
        event_id = int(self.store.get_meta(EVENT_ID_KEY) or 0) + 1
        self.store.set_meta(EVENT_ID_KEY, str(event_id))
        data: dict[str, Any] = {
            "eventId": event_id,
            "timestamp": timestamp(now),
            "trigger": "Delta",
            "actualValue": "true" if problem else "false",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": c.id, "connectorId": 1}},
            "variable": {"name": "Problem"},
        }
        if problem:
            data["techCode"] = c.error_code[:50]
            info = next(iter(c.faults.values()), "")
            if info:
                data["techInfo"] = info[:500]
        else:
            data["cleared"] = True
        return {"generatedAt": timestamp(now), "seqNo": 0, "eventData": [data]}

    def _security_event(self, kind: str, info: str) -> None:
        """SecurityEventNotification, kept in the outbox until the CSMS has it."""
        now = time.time()
        payload = {"type": kind, "timestamp": timestamp(now), "techInfo": info[:255]}
        self.store.enqueue("SecurityEventNotification", payload, None, now)
        self.outbox.wake()

    # --- decisions of the core ------------------------------------------------------------------

    def on_decision(self, d: Decision) -> None:
        if isinstance(d, TransactionStarted):
            self._transaction_started(d)
        elif isinstance(d, TransactionEnded):
            self._transaction_ended(d)
        elif isinstance(d, MeterSampled):
            self._meter_sampled(d)
        elif isinstance(d, RequestAuthorization):
            self._spawn(self._authorize(d.id_tag))
        elif isinstance(d, CacheAuthorization):
            self.store.cache_auth(d.id_tag, d.info)
        elif isinstance(d, StatusChanged):
            self._status_at[d.connector] = d.at  # for the charging state, see flush_status
        elif isinstance(d, AvailabilityChanged):
            self.store.set_availability(d.connector, d.operative)
        elif isinstance(d, AuthorizationRejected):
            log.info("id token %s refused (%s)", d.id_tag, d.status)

    def _token_type(self, token: str) -> str:
        known = self._token_types.get(token.casefold())
        if known:
            return known
        listed = self.local_list.lookup(token)
        return listed[1] if listed else DEFAULT_TOKEN_TYPE

    async def _authorize(self, token: str) -> None:
        station = self.rt.station
        listed = self.local_list.lookup(token) if self._v("LocalAuthListCtrlr", "Enabled") else None
        if self._online:
            if (
                listed
                and self._v("AuthCtrlr", "LocalPreAuthorize")
                and listed[0].valid_at(time.time())
            ):
                log.info("id token %s accepted from the local list", token)
                await self.rt.feed(
                    lambda now: station.authorization_answered(token, listed[0], now)
                )
                return
            try:
                payload = {"idToken": id_token(token, self._token_type(token))}
                answer = await self.outbox.call("Authorize", payload)
            except (CallError, TimeoutError, ConnectionLost) as exc:
                log.warning("Authorize %s got no answer (%s); offline rules apply", token, exc)
            else:
                info = auth_info(
                    answer["idTokenInfo"], time.time(), float(self._v("AuthCacheCtrlr", "LifeTime"))
                )
                await self.rt.feed(lambda now: station.authorization_answered(token, info, now))
                return
        if listed and self._v("AuthCtrlr", "LocalAuthorizeOffline"):
            log.info("id token %s: %s from the local list (offline)", token, listed[0].status)
            await self.rt.feed(lambda now: station.authorization_answered(token, listed[0], now))
            return
        await self.rt.feed(lambda now: station.authorization_failed(token, now))

    # --- the outbox's callbacks --------------------------------------------------------------

    def _delivered(self, message: OutboxMessage, answer: dict[str, Any] | None) -> None:
        if message.action != "TransactionEvent":
            self.store.delivered(message)
            return
        ended = message.payload.get("eventType") == "Ended"
        # a TransactionEvent sent again carries the same seqNo: the CSMS recognises it
        self.store.delivered(message, last=ended, durable=False)
        tx_id = message.tx_id
        if answer is None or ended or tx_id is None or "idTokenInfo" not in answer:
            return
        info = auth_info(
            answer["idTokenInfo"], time.time(), float(self._v("AuthCacheCtrlr", "LifeTime"))
        )
        station = self.rt.station
        self._spawn(self.rt.feed(lambda now: station.transaction_confirmed(tx_id, info, now)))

    # --- for chargerctl -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "ocpp_version": "2.0.1",
            "registration": self.registration,
            "outbox_depth": self.store.outbox_depth(),
        }

    def transaction_facts(self, transaction_id: str) -> dict[str, Any]:
        # the station's own id is the transactionId the CSMS knows; seqNo of the latest event
        return {"id": transaction_id, "seq_no": self.seq.peek(transaction_id) - 1}
