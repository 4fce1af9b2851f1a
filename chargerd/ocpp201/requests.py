"""Requests from the CSMS (OCPP 2.0.1), answered for the adapter.

`Requests` gets what it needs of the adapter through `host.Host`, so it does not know the
adapter class; TriggerMessage is answered in triggers.py. A handler answers at once;
what must follow the answer (NotifyReport, triggered messages, the reset) is started from
a task that waits for the answer to be on its way first.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..local_list import ListEntry
from . import reservations
from .components import ACTUAL
from .host import Host, after_answer, info, unknown_evse
from .payloads import auth_info, timestamp
from .reports import CRITERIA, REPORT_BASES, base_report, custom_report, report_pages
from .triggers import Triggers
from .variables import LOCAL_LIST_ITEMS_PER_MESSAGE

log = logging.getLogger("chargerd.ocpp201")

SUPPORTED = {
    "CancelReservation",
    "ChangeAvailability",
    "ClearCache",
    "DataTransfer",
    "GetBaseReport",
    "GetLocalListVersion",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
}


class Requests:
    """The CSMS → station actions of OCPP 2.0.1 Core this station supports."""

    def __init__(self, host: Host):
        self.h = host
        self.triggers = Triggers(host)

    async def handle(self, action: str, p: dict[str, Any]) -> dict[str, Any]:
        if action == "TriggerMessage":
            return await self.triggers.answer(p)
        handler = getattr(self, f"_on_{action}", None)
        if handler is None:
            raise AssertionError(f"{action} is listed as supported but has no handler")
        return await handler(p)

    # --- provisioning --------------------------------------------------------------------

    async def _on_GetVariables(self, p: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in p["getVariableData"]:
            attribute = item.get("attributeType", ACTUAL)
            status, value = self.h.dm.get(item["component"], item["variable"], attribute)
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

    async def _on_SetVariables(self, p: dict[str, Any]) -> dict[str, Any]:
        results, changed = [], []
        for item in p["setVariableData"]:
            attribute = item.get("attributeType", ACTUAL)
            status, var, why = self.h.dm.set(
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
                result["attributeStatusInfo"] = info(reason, why)
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
            self.h.variables_changed(changed)
        return {"setVariableResult": results}

    async def _on_GetBaseReport(self, p: dict[str, Any]) -> dict[str, Any]:
        if p["reportBase"] not in REPORT_BASES:
            return {"status": "NotSupported"}
        entries = base_report(self.h.dm, p["reportBase"])
        return self._report(f"GetBaseReport {p['reportBase']}", p["requestId"], entries)

    async def _on_GetReport(self, p: dict[str, Any]) -> dict[str, Any]:
        criteria = p.get("componentCriteria")
        unknown = [c for c in criteria or () if c not in CRITERIA]
        if unknown:  # B08.FR.02
            text = f"component criteria not supported: {', '.join(unknown)}"
            return {"status": "NotSupported", "statusInfo": info("UnsupportedParam", text)}
        entries = custom_report(self.h.dm, p.get("componentVariable"), criteria)
        return self._report("GetReport", p["requestId"], entries)

    def _report(self, what: str, request_id: int, entries: list[dict[str, Any]]) -> dict:
        """Accepted and NotifyReport pages after the answer, or EmptyResultSet (B07/B08)."""
        if not entries:
            log.info("%s %d: nothing matches", what, request_id)
            return {"status": "EmptyResultSet"}
        pages = report_pages(
            entries,
            request_id,
            timestamp(time.time()),
            int(self.h.dm.value("DeviceDataCtrlr", "ItemsPerMessage", instance="GetReport")),
            int(self.h.dm.value("DeviceDataCtrlr", "BytesPerMessage", instance="GetReport")),
        )
        log.info(
            "%s %d: %d variables in %d NotifyReport messages",
            what,
            request_id,
            len(entries),
            len(pages),
        )
        after_answer(self.h, self._send_all("NotifyReport", pages))
        return {"status": "Accepted"}

    async def _send_all(self, action: str, payloads: list[dict]) -> None:
        for payload in payloads:
            await self.h.send(action, payload)

    async def _on_Reset(self, p: dict[str, Any]) -> dict[str, Any]:
        evse = p.get("evseId")
        if evse is not None:  # B11/B12: one EVSE; the station goes on
            station = self.h.rt.station
            if evse not in station.connectors:
                return {"status": "Rejected", "statusInfo": info("UnknownEvse", f"no EVSE {evse}")}
            when_idle = p["type"] == "OnIdle"
            done = await self.h.rt.feed(
                lambda now: station.reset_connector(evse, now, when_idle=when_idle)
            )
            log.warning("Reset %s of EVSE %d: %s", p["type"], evse, "done" if done else "scheduled")
            return {"status": "Accepted" if done else "Scheduled"}
        if p["type"] == "OnIdle" and self.h.rt.station.transactions():
            self.h.reset_when_idle()
            log.warning("Reset OnIdle: scheduled for when the last transaction ends")
            return {"status": "Scheduled"}
        self.h.reset(p["type"])
        return {"status": "Accepted"}

    # --- authorization -------------------------------------------------------------------

    async def _on_ClearCache(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self.h.dm.value("AuthCacheCtrlr", "Enabled"):
            return {"status": "Rejected"}
        station = self.h.rt.station
        await self.h.rt.feed(lambda now: station.clear_cache())
        return {"status": "Accepted"}

    async def _on_SendLocalList(self, p: dict[str, Any]) -> dict[str, Any]:
        entries = p.get("localAuthorizationList", [])
        if not self.h.dm.value("LocalAuthListCtrlr", "Enabled"):
            return {
                "status": "Failed",
                "statusInfo": info("Disabled", "LocalAuthListCtrlr.Enabled is false"),
            }
        if p["versionNumber"] <= 0:
            # D01.FR.18: versionNumber SHALL be greater than 0 (GetLocalListVersion's 0 means
            # "no list installed")
            return {
                "status": "Failed",
                "statusInfo": info("ValueZeroNotAllowed", "versionNumber must be above 0"),
            }
        if len(entries) > LOCAL_LIST_ITEMS_PER_MESSAGE:
            return {
                "status": "Failed",
                "statusInfo": info(
                    "TooManyElements", f"at most {LOCAL_LIST_ITEMS_PER_MESSAGE} entries per message"
                ),
            }
        listed = [
            ListEntry(
                e["idToken"]["idToken"],
                auth_info(e["idTokenInfo"], time.time()) if "idTokenInfo" in e else None,
                e["idToken"]["type"],
            )
            for e in entries
        ]
        full = p["updateType"] == "Full"
        status = self.h.local_list.update(p["versionNumber"], full, listed)
        log.info(
            "SendLocalList %s version %d (%d entries): %s",
            p["updateType"],
            p["versionNumber"],
            len(entries),
            status,
        )
        return {"status": str(status)}

    async def _on_GetLocalListVersion(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"versionNumber": self.h.local_list.version}

    # --- transactions --------------------------------------------------------------------

    async def _on_RequestStartTransaction(self, p: dict[str, Any]) -> dict[str, Any]:
        station = self.h.rt.station
        token, evse, remote_id = p["idToken"], p.get("evseId"), p["remoteStartId"]
        if evse is not None and evse not in station.connectors:
            return {"status": "Rejected", "statusInfo": info("UnknownEvse", f"no EVSE {evse}")}
        refused = self.h.smart.remote_start_refused(p)  # its TxProfile (K05)
        if refused is not None:
            return refused
        self.h.authorizer.token_seen(token)
        accepted = await self.h.rt.feed(
            lambda now: station.remote_start(token["idToken"], evse, now, remote_id)
        )
        answer: dict[str, Any] = {"status": "Accepted" if accepted else "Rejected"}
        started = [t for t in station.transactions() if t.remote_start_id == remote_id]
        running = station.connectors[evse].transaction if evse is not None else None
        if running is not None:  # begun at the EV or the bay: this authorizes it (F02)
            started = [running]
        if accepted and started:
            answer["transactionId"] = started[0].id
        self.h.smart.remote_start_answered(p, running if accepted else None)
        return answer

    async def _on_RequestStopTransaction(self, p: dict[str, Any]) -> dict[str, Any]:
        station = self.h.rt.station
        tx_id = p["transactionId"]
        stopped = await self.h.rt.feed(lambda now: station.remote_stop(tx_id, now))
        return {"status": "Accepted" if stopped else "Rejected"}

    async def _on_GetTransactionStatus(self, p: dict[str, Any]) -> dict[str, Any]:
        tx_id = p.get("transactionId")
        if tx_id is None:
            return {"messagesInQueue": self.h.store.outbox_depth("TransactionEvent") > 0}
        ongoing = self.h.rt.station.find_transaction(tx_id) is not None
        queued = self.h.store.outbox_depth_for(tx_id)
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued > 0}

    # --- reservations (H01-H04) --------------------------------------------------------------

    async def _on_ReserveNow(self, p: dict[str, Any]) -> dict[str, Any]:
        return await reservations.reserve_now(self.h, p)

    async def _on_CancelReservation(self, p: dict[str, Any]) -> dict[str, Any]:
        return await reservations.cancel_reservation(self.h, p)

    # --- availability and the connector -----------------------------------------------------

    async def _on_ChangeAvailability(self, p: dict[str, Any]) -> dict[str, Any]:
        station = self.h.rt.station
        operative = p["operationalStatus"] == "Operative"
        evse = p.get("evse")
        target = 0
        if evse is not None and evse["id"] != 0:
            unknown = unknown_evse(self.h, evse)
            if unknown:
                return unknown
            target = evse["id"]
        status = await self.h.rt.feed(
            lambda now: station.change_availability(target, operative, now)
        )
        return {"status": status}

    async def _on_UnlockConnector(self, p: dict[str, Any]) -> dict[str, Any]:
        station = self.h.rt.station
        c = station.connectors.get(p["evseId"])
        if c is None or p["connectorId"] != 1:
            return {"status": "UnknownConnector"}
        if c.transaction is not None:
            return {"status": "OngoingAuthorizedTransaction"}
        if not self.h.rt.has_lock(c.id):  # 2.0.1 has no NotSupported
            return {"status": "UnlockFailed", "statusInfo": info("NoLock", "no cable lock")}
        await self.h.rt.feed(lambda now: station.unlock(c.id, now))
        return {"status": "Unlocked" if self.h.rt.lock_result(c.id) else "UnlockFailed"}

    async def _on_DataTransfer(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"status": "UnknownVendorId"}  # this station has no vendor extensions
