"""OCPP 1.6J Core profile: the core's decisions as messages, the CSMS's requests as events."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..adapter import Runtime, refusal_text
from ..blocks import Block, Blocks
from ..config import Config
from ..connection import CsmsConnection
from ..core.connector import Status
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
    TransactionEnded,
    TransactionStarted,
)
from ..local_list import LocalList
from ..outbox import Combining, Outbox, RetryPolicy
from ..rpc import OCPP16, CallError, ConnectionLost
from ..store import Store
from ..updates.version import running_version
from .configuration import ConfigurationKeys
from .local_list import get_local_list_version, send_local_list
from .payloads import auth_info, timestamp
from .reservations import cancel_reservation, reserve_now
from .transactions import TransactionMessages
from .triggers import trigger_message

if TYPE_CHECKING:
    from .firmware import Firmware16
    from .security import Security16
    from .smart import SmartMessages

log = logging.getLogger("chargerd.ocpp16")

SUPPORTED = {
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "DataTransfer",
    "GetConfiguration",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "TriggerMessage",
    "UnlockConnector",
}
# The feature blocks' messages, each imported when first wanted (chargerd/blocks.py).
BLOCKS = (
    Block("firmware", "chargerd.ocpp16.firmware", "Firmware16", (  # and diagnostics
        "UpdateFirmware", "SignedUpdateFirmware", "GetDiagnostics", "GetLog"), attaches=True),
    Block("security", "chargerd.ocpp16.security", "Security16", (  # security extension
        "InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate",
        "ExtendedTriggerMessage", "CertificateSigned"), attaches=True),
    Block("smart", "chargerd.ocpp16.smart", "SmartMessages", (  # Smart Charging
        "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule")),
    Block("cost", "chargerd.ocpp16.cost", "handlers", ("DataTransfer",)),  # prices, costs
)  # fmt: skip


class Ocpp16Adapter(ConfigurationKeys, TransactionMessages, CsmsConnection):
    subprotocol = "ocpp1.6"
    version = OCPP16
    supported = SUPPORTED

    def __init__(self, config: Config, store: Store):
        super().__init__()
        self.config = config
        self.store = store
        self.keys = self._load_keys()
        self.local_list = LocalList(store)
        self.blocks = Blocks(self, BLOCKS)
        self._boot_now = asyncio.Event()  # a TriggerMessage asks for the next boot attempt
        # MinimumStatusDuration: connector -> (status, error code) not yet reported, since
        self._changing: dict[int, tuple[tuple[Status, str], float]] = {}
        self.settings = CoreSettings()
        self._apply_keys()
        self._timeout = config.csms.call_timeout_s
        self.registration = "Unknown"  # BootNotification status: Accepted, Pending, Rejected
        self._tasks: set[asyncio.Task[Any]] = set()
        self.outbox = Outbox(
            store,
            retry_policy=lambda: RetryPolicy(
                int(self.keys["TransactionMessageAttempts"]),
                float(self.keys["TransactionMessageRetryInterval"]),
            ),
            prepare=self._prepare,
            delivered=self._delivered,
            call_timeout_s=config.csms.call_timeout_s,
            # a backlog of samples goes as few MeterValues as the spec allows
            combining=Combining("MeterValues", "meterValue", lambda: config.csms.replay_batch),
        )

    def bind(self, runtime: Runtime) -> None:
        self.rt = runtime
        runtime.station.local_list = self.local_list.info

    @property
    def firmware(self) -> Firmware16:
        return self.blocks.get("firmware")  # type: ignore[no-any-return]

    @property
    def security(self) -> Security16:
        return self.blocks.get("security")  # type: ignore[no-any-return]

    @property
    def smart(self) -> SmartMessages:
        return self.blocks.get("smart")  # type: ignore[no-any-return]

    # --- the connection --------------------------------------------------------------------

    def ping_interval_s(self) -> float:
        return float(self.keys["WebSocketPingInterval"])

    def _heartbeat_interval(self) -> int:
        return int(self.keys["HeartbeatInterval"])

    async def _send_heartbeat(self) -> None:
        try:
            await self.outbox.call("Heartbeat", {})
        except (CallError, TimeoutError) as exc:
            log.warning("Heartbeat failed: %s", exc or "no answer")

    def _boot_payload(self) -> dict[str, Any]:
        info = self.config.station
        payload: dict[str, Any] = {
            "chargePointVendor": info.vendor,
            "chargePointModel": info.model,
            "firmwareVersion": running_version(self.config),  # an update's wins
        }
        if info.serial:
            payload["chargePointSerialNumber"] = info.serial
            # deprecated in 1.6, but many CSMSes still read only this one
            payload["chargeBoxSerialNumber"] = info.serial
        return payload

    def _boot_accepted(self, payload: dict[str, Any], interval: int) -> None:
        if interval > 0:
            self._set_key("HeartbeatInterval", interval)
        log.info("BootNotification accepted; heartbeat every %s s", self.keys["HeartbeatInterval"])

    # --- status -------------------------------------------------------------------------------

    def flush_status(self) -> None:
        if not (self.outbox.connected and self.registration == "Accepted"):
            return
        connectors = self.rt.station.connectors.values()
        station_off = all(not c.operative for c in connectors)
        current = {0: (Status.Unavailable if station_off else Status.Available, "NoError")}
        current.update({c.id: (c.status, c.error_code) for c in connectors})
        now = time.time()
        hold = int(self.keys["MinimumStatusDuration"])
        for connector, (status, error) in current.items():
            if self._reported.get(connector) == (status, error):
                self._changing.pop(connector, None)
                continue
            if hold > 0:  # reported once it has held that long (the ticker flushes again)
                since = self._changing.get(connector)
                if since is None or since[0] != (status, error):
                    self._changing[connector] = ((status, error), now)
                    continue
                if now - since[1] < hold:
                    continue
            self._changing.pop(connector, None)
            self._reported[connector] = (status, error)
            payload = {
                "connectorId": connector,
                "status": str(status),
                "errorCode": error,
                "timestamp": timestamp(now),
            }
            self.outbox.post("StatusNotification", payload)

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
        elif isinstance(d, AvailabilityChanged):
            self.store.set_availability(d.connector, d.operative)
        elif isinstance(d, AuthorizationRejected):
            log.info("id tag %s %s", d.id_tag, self.refusal(d))
        elif isinstance(d, ReservationMade):
            self.store.save_reservation(d.reservation)
        elif isinstance(d, ReservationEnded):
            self.store.delete_reservation(d.reservation.id)
            log.info("reservation %d ended: %s", d.reservation.id, d.why)

    def refusal(self, rejected: AuthorizationRejected) -> str:
        return refusal_text(rejected, "LocalAuthorizeOffline", "AllowOfflineTxForUnknownId")

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    spawn = _spawn

    # --- for TriggerMessage (triggers.py) ------------------------------------------------------

    def trigger_boot(self) -> None:
        if self.registration != "Accepted":
            self._boot_now.set()  # the boot loop's next attempt, now
            return
        self._spawn(self._boot_again())

    async def _boot_again(self) -> None:
        payload = self._boot_payload()
        try:
            answer = await self.outbox.call("BootNotification", payload)
        except (CallError, TimeoutError, ConnectionLost) as exc:
            log.warning("triggered BootNotification failed: %s", exc or "no answer")
            return
        if answer["status"] == "Accepted":
            self._boot_accepted(payload, int(answer["interval"]))

    async def _wait_boot(self, seconds: float) -> None:
        self._boot_now.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._boot_now.wait()
        except TimeoutError:
            pass

    def report_status_again(self, connectors: list[int]) -> None:
        for n in connectors:
            self._reported.pop(n, None)
        self.flush_status()

    def sampled_measurands(self) -> list[str]:
        return self._measurands("MeterValuesSampledData")

    async def _authorize(self, id_tag: str) -> None:
        station = self.rt.station
        try:
            answer = await self.outbox.call("Authorize", {"idTag": id_tag})
        except (CallError, TimeoutError, ConnectionLost) as exc:
            log.warning("Authorize %s got no answer (%s); offline rules apply", id_tag, exc)
            await self.rt.feed(lambda now: station.authorization_failed(id_tag, now))
            return
        info = auth_info(answer["idTagInfo"])
        await self.rt.feed(lambda now: station.authorization_answered(id_tag, info, now))

    # --- requests from the CSMS -----------------------------------------------------------------

    async def _handle(self, action: str, p: dict[str, Any]) -> dict[str, Any]:
        station = self.rt.station
        if action == "ChangeConfiguration":
            return {"status": self._change_configuration(p["key"], p["value"])[0]}
        if action == "GetConfiguration":
            return self._get_configuration(p.get("key"))
        if action == "ChangeAvailability":
            operative = p["type"] == "Operative"
            status = await self.rt.feed(
                lambda now: station.change_availability(p["connectorId"], operative, now)
            )
            return {"status": status}
        if action == "ClearCache":
            await self.rt.feed(lambda now: station.clear_cache())
            return {"status": "Accepted"}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}  # this station has no vendor extensions
        if action == "SendLocalList":
            return send_local_list(self.local_list, bool(self.keys["LocalAuthListEnabled"]), p)
        if action == "GetLocalListVersion":
            return get_local_list_version(self.local_list, bool(self.keys["LocalAuthListEnabled"]))
        if action == "TriggerMessage":
            return trigger_message(self, p)
        if action in ("RemoteStartTransaction", "RemoteStopTransaction") and (
            self.registration != "Accepted"
        ):
            # errata 1.6: not allowed while the registration is Pending (nor Rejected)
            log.info("%s refused: BootNotification is %s", action, self.registration)
            return {"status": "Rejected"}
        if action == "RemoteStartTransaction":
            connector = p.get("connectorId")
            if connector is not None and connector not in station.connectors:
                return {"status": "Rejected"}
            with_profile = "chargingProfile" in p
            if with_profile and self.smart.remote_start_refused(p):
                return {"status": "Rejected"}
            accepted = await self.rt.feed(
                lambda now: station.remote_start(p["idTag"], connector, now)
            )
            if with_profile:
                self.smart.remote_start_answered(p, accepted)
            return {"status": "Accepted" if accepted else "Rejected"}
        if action == "RemoteStopTransaction":
            tx_id = self.store.tx_by_csms_id(str(p["transactionId"]))
            stopped = tx_id is not None and await self.rt.feed(
                lambda now: station.remote_stop(tx_id, now)
            )
            return {"status": "Accepted" if stopped else "Rejected"}
        if action == "ReserveNow":
            return await reserve_now(self.rt, p)
        if action == "CancelReservation":
            return await cancel_reservation(self.rt, p)
        if action == "Reset":
            self.rt.request_reset(hard=p["type"] == "Hard")
            return {"status": "Accepted"}
        if action == "UnlockConnector":
            connector = p["connectorId"]
            if connector not in station.connectors or not self.rt.has_lock(connector):
                return {"status": "NotSupported"}  # 1.6: no such connector, or no lock
            await self.rt.feed(lambda now: station.unlock(connector, now))
            return {"status": "Unlocked" if self.rt.lock_result(connector) else "UnlockFailed"}
        raise AssertionError(f"{action} is listed as supported but has no handler")

    # --- for chargerctl -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "ocpp_version": "1.6",
            "registration": self.registration,
            "outbox_depth": self.store.outbox_depth(),
        }

    def transaction_facts(self, transaction_id: str) -> dict[str, Any]:
        return {"id": self.store.csms_id(transaction_id) or "pending"}
