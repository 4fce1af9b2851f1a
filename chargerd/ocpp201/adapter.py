"""OCPP 2.0.1 Core: the core's decisions as messages, the CSMS's requests as events.

Shares the core, HAL, store, outbox, RPC and link with 1.6; what differs lives here:
- one TransactionEvent (Started / Updated / Ended) per transaction change, with the
  station's own transaction id, a gap-free `seqNo` (sequencing.py) and `offline: true`
  for events that happened while the CSMS was not reachable;
- configuration is the device model (device_model.py, variables.py), mapped onto the
  core's rules in `_apply_settings`;
- StatusNotification per EVSE/connector with the 2.0.1 connector statuses; the charging
  state travels in TransactionEvent;
- id tokens are answered in authorization.py, with the Local Authorization List
  (local_list.py).

The CSMS's requests are answered in requests.py, transactions become TransactionEvents in
transactions.py; both get what they need from here and do not import this module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..adapter import Runtime, refusal_text
from ..blocks import Block, Blocks
from ..config import Config
from ..connection import CsmsConnection
from ..core.model import (
    AuthorizationRejected,
    AvailabilityChanged,
    CacheAuthorization,
    CoreSettings,
    Decision,
    MeterSampled,
    RequestAuthorization,
    ReservationEnded,
    ReservationMade,
    StatusChanged,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionEnded,
    TransactionStarted,
)
from ..local_list import LocalList
from ..outbox import Outbox, RetryPolicy
from ..rpc import OCPP201, CallError, ConnectionLost
from ..store import OutboxMessage, Store
from ..updates.version import running_version
from .authorization import Authorizer
from .device_model import DeviceModel
from .payloads import connector_status, problem_event, status_notification
from .requests import SUPPORTED, Requests
from .reservations import status_update
from .sequencing import SeqNumbers, combining
from .settings import DeviceModelSettings
from .transactions import TransactionEvents
from .variables import catalogue

if TYPE_CHECKING:
    from .firmware import Firmware201
    from .smart import SmartMessages201

log = logging.getLogger("chargerd.ocpp201")

BOOT_REASON_KEY = "ocpp201.boot_reason"  # store meta: why the next boot happens
EVENT_ID_KEY = "ocpp201.last_event_id"  # store meta: NotifyEvent eventId counter
# The feature blocks' messages, each imported when first wanted (chargerd/blocks.py).
BLOCKS = (
    Block("firmware", "chargerd.ocpp201.firmware", "Firmware201",  # L, N01
          ("UpdateFirmware", "GetLog"), attaches=True),
    Block("security", "chargerd.ocpp201.security", "Security201", (  # A, M
        "InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate",
        "CertificateSigned", "TriggerMessage", "SetVariables", "SetNetworkProfile"),
        attaches=True),
    Block("smart", "chargerd.ocpp201.smart", "SmartMessages201", (  # K
        "SetChargingProfile", "GetCompositeSchedule", "GetChargingProfiles",
        "ClearChargingProfile"), attaches=True),
    Block("display", "chargerd.ocpp201.display", "handlers", (  # O, I
        "SetDisplayMessage", "GetDisplayMessages", "ClearDisplayMessage", "CostUpdated")),
    Block("monitoring", "chargerd.ocpp201.monitoring", "handlers", (  # N
        "SetMonitoringBase", "SetMonitoringLevel", "SetVariableMonitoring",
        "ClearVariableMonitoring", "GetMonitoringReport")),
    Block("customer", "chargerd.ocpp201.customer", "handlers", ("CustomerInformation",)),
)  # fmt: skip


class Ocpp201Adapter(DeviceModelSettings, CsmsConnection):
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
        self._status_at: dict[int, float] = {}  # connector -> time of its last status change
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
            combining=combining(self.seq, lambda: config.csms.replay_batch),
        )
        online = lambda: self._online  # noqa: E731
        self.authorizer = Authorizer(self.dm, self.local_list, self.outbox, online)
        self.events = TransactionEvents(
            store, self.seq, self.dm, self.outbox, online, self.authorizer.token_type
        )
        self.requests = Requests(self)
        self.blocks = Blocks(self, BLOCKS)

    def bind(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.authorizer.bind(runtime)
        self.events.bind(runtime.station)
        # The core asks about every id tag; this adapter knows whether the CSMS can answer.
        runtime.station.link_changed(True)

    @property
    def firmware(self) -> Firmware201:
        return self.blocks.get("firmware")  # type: ignore[no-any-return]

    @property
    def smart(self) -> SmartMessages201:
        return self.blocks.get("smart")  # type: ignore[no-any-return]

    def ping_interval_s(self) -> float:
        return float(self._v("OCPPCommCtrlr", "WebSocketPingInterval"))

    # --- the connection --------------------------------------------------------------------

    def _link_changed(self, online: bool) -> None:
        self._online = online
        self._apply_settings()

    def _heartbeat_interval(self) -> int:
        return int(self._v("OCPPCommCtrlr", "HeartbeatInterval"))

    async def _send_heartbeat(self) -> None:
        await self.send("Heartbeat", {})

    def _boot_payload(self) -> dict[str, Any]:
        """The next attempt's BootNotification; reason Triggered when the CSMS asked."""
        info = self.config.station
        station: dict[str, Any] = {
            "model": info.model,
            "vendorName": info.vendor,
            "firmwareVersion": running_version(self.config),  # an update's wins
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

    async def send(self, action: str, payload: dict[str, Any]) -> None:
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

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.requests.handle(action, payload)

    def trigger_boot(self) -> None:
        self._boot_triggered = True
        self._boot_now.set()

    def reset(self, kind: str) -> None:
        self.store.set_meta(BOOT_REASON_KEY, "RemoteReset")
        self.rt.request_reset(hard=False)

    def reset_when_idle(self) -> None:
        self._reset_when_idle = True

    def status_reported(self, connector: int, status: str) -> None:
        if self._online:  # reported on this connection: flush_status need not repeat it
            self._reported[connector] = status

    # --- status -------------------------------------------------------------------------------

    def flush_status(self) -> None:
        connectors = list(self.rt.station.connectors.values())
        self.events.charging_states(connectors, self._status_at)
        if not (self._online and self.outbox.connected):
            return
        now = time.time()
        for c in connectors:
            status = connector_status(c.status)
            if self._reported.get(c.id) != status:
                self._reported[c.id] = status
                self.outbox.post("StatusNotification", status_notification(c.id, status, now))
            problem = bool(c.faults)
            if self._problems.get(c.id, False) != problem:
                self._problems[c.id] = problem
                event_id = int(self.store.get_meta(EVENT_ID_KEY) or 0) + 1
                self.store.set_meta(EVENT_ID_KEY, str(event_id))
                self.outbox.post("NotifyEvent", problem_event(c, problem, event_id, now))

    def security_event(self, kind: str, info: str) -> None:
        """SecurityEventNotification and the security log (chargerd.security.events)."""
        self.rt.parts["security"].events.record(kind, info)  # type: ignore[attr-defined]

    # --- decisions of the core ------------------------------------------------------------------

    def on_decision(self, d: Decision) -> None:
        if isinstance(d, TransactionStarted):
            self.events.started(d)
            smart = self.blocks.made("smart")  # (none made: no RequestStart TxProfile waits)
            if smart is not None:
                smart.transaction_started(d.transaction)  # a RequestStart TxProfile
        elif isinstance(d, TransactionAuthorized | TransactionDeauthorized):
            self.events.authorization_changed(d)
        elif isinstance(d, TransactionEnded):
            self.events.ended(d)
            if self._reset_when_idle and not self.rt.station.transactions():
                self._reset_when_idle = False
                self.reset("OnIdle")
        elif isinstance(d, MeterSampled):
            self.events.sampled(d)
        elif isinstance(d, RequestAuthorization):
            self.spawn(self.authorizer.authorize(d.id_tag))
        elif isinstance(d, CacheAuthorization):
            self.store.cache_auth(d.id_tag, d.info)
        elif isinstance(d, StatusChanged):
            self._status_at[d.connector] = d.at  # for the charging state, see flush_status
        elif isinstance(d, AvailabilityChanged):
            self.store.set_availability(d.connector, d.operative)
        elif isinstance(d, AuthorizationRejected):
            log.info("id token %s %s", d.id_tag, self.refusal(d))
        elif isinstance(d, ReservationMade):
            self.store.save_reservation(d.reservation)
        elif isinstance(d, ReservationEnded):
            self._reservation_ended(d)

    def _reservation_ended(self, d: ReservationEnded) -> None:
        """Forgotten; Expired and Removed are told to the CSMS (H04), kept until it has them."""
        self.store.delete_reservation(d.reservation.id)
        log.info("reservation %d ended: %s", d.reservation.id, d.why)
        update = status_update(d)
        if update is not None:
            self.store.enqueue("ReservationStatusUpdate", update, None, time.time())
            self.outbox.wake()

    def refusal(self, rejected: AuthorizationRejected) -> str:
        return refusal_text(
            rejected, "AuthCtrlr.LocalAuthorizeOffline", "AuthCtrlr.OfflineTxForUnknownIdEnabled"
        )

    # --- the outbox's callbacks --------------------------------------------------------------

    def _delivered(self, message: OutboxMessage, answer: dict[str, Any] | None) -> None:
        if message.action != "TransactionEvent":
            self.store.delivered(message)
            return
        ended = message.payload.get("eventType") == "Ended"
        # a TransactionEvent sent again carries the same seqNo: the CSMS recognises it
        self.store.delivered(message, last=ended, durable=False)
        from . import display  # tariff and cost (I)

        display.transaction_answered(self, message.payload, answer)
        tx_id = message.tx_id
        if answer is None or ended or tx_id is None or "idTokenInfo" not in answer:
            return
        info = self.authorizer.info_from_csms(answer["idTokenInfo"])
        station = self.rt.station
        self.spawn(self.rt.feed(lambda now: station.transaction_confirmed(tx_id, info, now)))

    # --- for chargerctl -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "ocpp_version": "2.0.1",
            "registration": self.registration,
            "outbox_depth": self.store.outbox_depth(),
        }

    def ocpp_get(self, key: str) -> str:
        from . import technician

        self.rt.parts.build_rest()  # the blocks' variables (SecurityCtrlr) read by their parts
        return technician.get(self.dm, key)

    def ocpp_set(self, key: str, value: str) -> str:
        from . import technician

        self.rt.parts.build_rest()
        return technician.set_value(self, key, value)

    def transaction_facts(self, transaction_id: str) -> dict[str, Any]:
        # the station's own id is the transactionId the CSMS knows; seqNo of the latest event
        return {"id": transaction_id, "seq_no": self.seq.peek(transaction_id) - 1}
