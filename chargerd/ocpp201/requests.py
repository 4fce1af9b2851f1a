"""Requests from the CSMS (OCPP 2.0.1), answered for the adapter (a mixin of it).

A handler answers at once; what must follow the answer (NotifyReport, triggered messages,
the reset) is started from a task that waits for the answer to be on its way first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from .device_model import ACTUAL, REPORT_BASES, report_pages
from .payloads import meter_value, timestamp
from .variables import LOCAL_LIST_ITEMS_PER_MESSAGE, security_profile

if TYPE_CHECKING:
    from .adapter import Ocpp201Adapter

log = logging.getLogger("chargerd.ocpp201")

SUPPORTED = {
    "ChangeAvailability",
    "ClearCache",
    "DataTransfer",
    "GetBaseReport",
    "GetLocalListVersion",
    "GetTransactionStatus",
    "GetVariables",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "Reset",
    "SendLocalList",
    "SetNetworkProfile",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
}
ANSWER_FIRST_S = 0.02  # what a request sets off starts after its answer was sent
CHARGING_PROFILE_KEY = "ocpp201.charging_profile.{}"  # store meta, per remoteStartId
NETWORK_PROFILE_KEY = "ocpp201.network_profile.{}"  # store meta, per configuration slot


def _info(reason: str, text: str) -> dict[str, str]:
    return {"reasonCode": reason[:20], "additionalInfo": text[:512]}


class Requests:
    """The CSMS → station actions of OCPP 2.0.1 Core this station supports."""

    async def _handle(self: Ocpp201Adapter, action: str, p: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_on_{action}", None)
        if handler is None:
            raise AssertionError(f"{action} is listed as supported but has no handler")
        return await handler(p)

    def _after_answer(self: Ocpp201Adapter, coroutine: Awaitable[Any]) -> None:
        async def later() -> None:
            await asyncio.sleep(ANSWER_FIRST_S)
            await coroutine

        self._spawn(later())

    # --- provisioning --------------------------------------------------------------------

    async def _on_GetVariables(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in p["getVariableData"]:
            attribute = item.get("attributeType", ACTUAL)
            status, value = self.dm.get(item["component"], item["variable"], attribute)
            result: dict[str, Any] = {
                "attributeStatus": status,
                "attributeType": attribute,
                "component": item["component"],
                "variable": item["variable"],
            }
            if value is not None:
                result["attributeValue"] = value
            results.append(result)
        return {"getVariableResult": results}

    async def _on_SetVariables(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        results, changed = [], []
        for item in p["setVariableData"]:
            attribute = item.get("attributeType", ACTUAL)
            status, var, why = self.dm.set(
                item["component"], item["variable"], item["attributeValue"], attribute
            )
            result: dict[str, Any] = {
                "attributeStatus": status,
                "attributeType": attribute,
                "component": item["component"],
                "variable": item["variable"],
            }
            if why:
                reason = "ReadOnly" if why == "read-only" else "InvalidValue"
                result["attributeStatusInfo"] = _info(reason, why)
                log.info(
                    "SetVariables %s.%s=%r rejected: %s",
                    item["component"].get("name"),
                    item["variable"].get("name"),
                    item["attributeValue"],
                    why,
                )
            results.append(result)
            if var is not None:
                changed.append(var)
        if changed:
            self._variables_changed(changed)
        return {"setVariableResult": results}

    async def _on_GetBaseReport(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        if p["reportBase"] not in REPORT_BASES:
            return {"status": "NotSupported"}
        entries = self.dm.report(p["reportBase"])
        if not entries:
            return {"status": "EmptyResultSet"}
        pages = report_pages(
            entries,
            p["requestId"],
            timestamp(time.time()),
            int(self._v("DeviceDataCtrlr", "ItemsPerMessage", instance="GetReport")),
            int(self._v("DeviceDataCtrlr", "BytesPerMessage", instance="GetReport")),
        )
        log.info(
            "GetBaseReport %s: %d variables in %d NotifyReport messages",
            p["reportBase"],
            len(entries),
            len(pages),
        )
        self._after_answer(self._send_all("NotifyReport", pages))
        return {"status": "Accepted"}

    async def _send_all(self: Ocpp201Adapter, action: str, payloads: list[dict]) -> None:
        for payload in payloads:
            await self._send(action, payload)

    async def _on_SetNetworkProfile(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        data = p["connectionData"]
        if data["securityProfile"] < security_profile(self.config):
            return {
                "status": "Rejected",
                "statusInfo": _info(
                    "InvalidSecProfile",
                    "a lower security profile than the one in use is not allowed",
                ),
            }
        slot = p["configurationSlot"]
        self.store.set_meta(NETWORK_PROFILE_KEY.format(slot), json.dumps(data))
        log.warning(
            "network profile for slot %d stored (%s); this station keeps connecting to "
            "csms.url of its YAML file",
            slot,
            data["ocppCsmsUrl"],
        )
        self._security_event(
            "ReconfigurationOfSecurityParameters", f"network profile stored in slot {slot}"
        )
        return {"status": "Accepted"}

    async def _on_Reset(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("evseId") is not None:
            return {
                "status": "Rejected",
                "statusInfo": _info("UnsupportedRequest", "this station resets as a whole only"),
            }
        if p["type"] == "OnIdle" and self.rt.station.transactions():
            self._reset_when_idle = True
            log.warning("Reset OnIdle: scheduled for when the last transaction ends")
            return {"status": "Scheduled"}
        self._reset_now(p["type"])
        return {"status": "Accepted"}

    def _reset_now(self: Ocpp201Adapter, kind: str) -> None:
        from .adapter import BOOT_REASON_KEY

        self.store.set_meta(BOOT_REASON_KEY, "RemoteReset")
        self._security_event("ResetOrReboot", f"Reset {kind} requested by the CSMS")
        self.rt.request_reset(hard=False)

    # --- authorization -------------------------------------------------------------------

    async def _on_ClearCache(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        if not self._v("AuthCacheCtrlr", "Enabled"):
            return {"status": "Rejected"}
        station = self.rt.station
        await self.rt.feed(lambda now: station.clear_cache())
        return {"status": "Accepted"}

    async def _on_SendLocalList(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        entries = p.get("localAuthorizationList", [])
        if not self._v("LocalAuthListCtrlr", "Enabled"):
            return {
                "status": "Failed",
                "statusInfo": _info("Disabled", "LocalAuthListCtrlr.Enabled is false"),
            }
        if len(entries) > LOCAL_LIST_ITEMS_PER_MESSAGE:
            return {
                "status": "Failed",
                "statusInfo": _info(
                    "TooManyElements", f"at most {LOCAL_LIST_ITEMS_PER_MESSAGE} entries per message"
                ),
            }
        status = self.local_list.update(p["versionNumber"], p["updateType"], entries)
        log.info(
            "SendLocalList %s version %d (%d entries): %s",
            p["updateType"],
            p["versionNumber"],
            len(entries),
            status,
        )
        return {"status": status}

    async def _on_GetLocalListVersion(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        return {"versionNumber": self.local_list.version}

    # --- transactions --------------------------------------------------------------------

    async def _on_RequestStartTransaction(
        self: Ocpp201Adapter, p: dict[str, Any]
    ) -> dict[str, Any]:
        station = self.rt.station
        token, evse, remote_id = p["idToken"], p.get("evseId"), p["remoteStartId"]
        if evse is not None and evse not in station.connectors:
            return {"status": "Rejected", "statusInfo": _info("UnknownEvse", f"no EVSE {evse}")}
        self._token_types[token["idToken"].casefold()] = token["type"]
        if "chargingProfile" in p:
            self.store.set_meta(
                CHARGING_PROFILE_KEY.format(remote_id), json.dumps(p["chargingProfile"])
            )
            log.warning(
                "RequestStartTransaction %d: charging profile stored but not applied "
                "(this station has no smart charging)",
                remote_id,
            )
        accepted = await self.rt.feed(
            lambda now: station.remote_start(token["idToken"], evse, now, remote_id)
        )
        answer: dict[str, Any] = {"status": "Accepted" if accepted else "Rejected"}
        started = [t for t in station.transactions() if t.remote_start_id == remote_id]
        if accepted and started:
            answer["transactionId"] = started[0].id
        return answer

    async def _on_RequestStopTransaction(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        station = self.rt.station
        tx_id = p["transactionId"]
        stopped = await self.rt.feed(lambda now: station.remote_stop(tx_id, now))
        return {"status": "Accepted" if stopped else "Rejected"}

    async def _on_GetTransactionStatus(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        tx_id = p.get("transactionId")
        if tx_id is None:
            (queued,) = self.store.db.execute(
                "SELECT COUNT(*) FROM outbox WHERE action='TransactionEvent'"
            ).fetchone()
            return {"messagesInQueue": queued > 0}
        ongoing = self.rt.station.find_transaction(tx_id) is not None
        queued = self.store.outbox_depth_for(tx_id)
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued > 0}

    # --- availability and the connector -----------------------------------------------------

    async def _on_ChangeAvailability(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        station = self.rt.station
        operative = p["operationalStatus"] == "Operative"
        evse = p.get("evse")
        target = 0
        if evse is not None and evse["id"] != 0:
            unknown = self._unknown_evse(evse)
            if unknown:
                return unknown
            target = evse["id"]
        status = await self.rt.feed(lambda now: station.change_availability(target, operative, now))
        return {"status": status}

    def _unknown_evse(self: Ocpp201Adapter, evse: dict[str, Any]) -> dict[str, Any] | None:
        """A Rejected answer for an EVSE (and connector) this station does not have."""
        connector = evse.get("connectorId", 1)
        if evse["id"] in self.rt.station.connectors and connector == 1:
            return None
        text = f"no EVSE {evse['id']} connector {connector}"
        return {"status": "Rejected", "statusInfo": _info("UnknownEvse", text)}

    async def _on_UnlockConnector(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        station = self.rt.station
        c = station.connectors.get(p["evseId"])
        if c is None or p["connectorId"] != 1:
            return {"status": "UnknownConnector"}
        if c.transaction is not None:
            return {"status": "OngoingAuthorizedTransaction"}
        if not self.rt.has_lock(c.id):  # 2.0.1 has no NotSupported
            return {"status": "UnlockFailed", "statusInfo": _info("NoLock", "no cable lock")}
        await self.rt.feed(lambda now: station.unlock(c.id, now))
        return {"status": "Unlocked" if self.rt.lock_result(c.id) else "UnlockFailed"}

    async def _on_DataTransfer(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        return {"status": "UnknownVendorId"}  # this station has no vendor extensions

    # --- TriggerMessage ----------------------------------------------------------------------

    async def _on_TriggerMessage(self: Ocpp201Adapter, p: dict[str, Any]) -> dict[str, Any]:
        station = self.rt.station
        requested, evse = p["requestedMessage"], p.get("evse")
        if evse is not None:
            unknown = self._unknown_evse(evse)
            if unknown:
                return unknown
            targets = [evse["id"]]
        else:
            targets = sorted(station.connectors)
        if requested == "BootNotification":
            if self.registration == "Accepted":
                return {
                    "status": "Rejected",
                    "statusInfo": _info("AlreadyAccepted", "the registration is Accepted already"),
                }
            self._boot_triggered = True
            self._boot_now.set()
            return {"status": "Accepted"}
        if requested == "Heartbeat":
            self._after_answer(self._send("Heartbeat", {}))
        elif requested == "StatusNotification":
            self._after_answer(self._send_statuses(targets))
        elif requested == "MeterValues":
            self._after_answer(self._send_meter_values(targets))
        elif requested == "TransactionEvent":
            with_tx = [n for n in targets if station.connectors[n].transaction is not None]
            if not with_tx:
                return {
                    "status": "Rejected",
                    "statusInfo": _info("NoTransaction", "no transaction is running there"),
                }

            async def events() -> None:
                for n in with_tx:
                    self._trigger_transaction_event(n)

            self._after_answer(events())
        else:
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    async def _send_statuses(self: Ocpp201Adapter, connectors: list[int]) -> None:
        from .payloads import connector_status

        now = time.time()
        for n in connectors:
            status = connector_status(self.rt.station.connectors[n].status)
            if self._online:
                self._reported[n] = status
            await self._send("StatusNotification", self._status_payload(n, status, now))

    async def _send_meter_values(self: Ocpp201Adapter, connectors: list[int]) -> None:
        now = time.time()
        measurands = self._measurands("AlignedDataCtrlr", "Measurands")
        for n in connectors:
            c = self.rt.station.connectors[n]
            value = meter_value(
                self.rt.station.readings.get(n), measurands, "Trigger", now, c.offered_a
            )
            if value:
                await self._send("MeterValues", {"evseId": n, "meterValue": [value]})
