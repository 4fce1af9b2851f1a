"""TriggerMessage (OCPP 2.0.1 F06): the messages the CSMS may ask the station to send now."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .host import Host, after_answer, info, unknown_evse
from .payloads import connector_status, meter_value, status_notification
from .transactions import measurands

if TYPE_CHECKING:
    from .firmware import Firmware201


class Triggers:
    def __init__(self, host: Host):
        self.h = host

    async def answer(self, p: dict[str, Any]) -> dict[str, Any]:
        """The TriggerMessageResponse; the message itself follows the answer."""
        station = self.h.rt.station
        requested, evse = p["requestedMessage"], p.get("evse")
        if evse is not None:
            unknown = unknown_evse(self.h, evse)
            if unknown:
                return unknown
            targets = [evse["id"]]
        else:
            targets = sorted(station.connectors)
        if requested == "BootNotification":
            if self.h.registration == "Accepted":
                return {
                    "status": "Rejected",
                    "statusInfo": info("AlreadyAccepted", "the registration is Accepted already"),
                }
            self.h.trigger_boot()
            return {"status": "Accepted"}
        if requested == "Heartbeat":
            after_answer(self.h, self.h.send("Heartbeat", {}))
        elif requested == "StatusNotification":
            after_answer(self.h, self._send_statuses(targets))
        elif requested == "MeterValues":
            after_answer(self.h, self._send_meter_values(targets))
        elif requested in ("FirmwareStatusNotification", "LogStatusNotification"):
            firmware: Firmware201 = self.h.firmware  # type: ignore[attr-defined]
            after_answer(self.h, self.h.send(*firmware.triggered(requested)))
        elif requested == "TransactionEvent":
            with_tx = [n for n in targets if station.connectors[n].transaction is not None]
            if not with_tx:
                return {
                    "status": "Rejected",
                    "statusInfo": info("NoTransaction", "no transaction is running there"),
                }

            async def events() -> None:
                for n in with_tx:
                    self.h.events.triggered(n)

            after_answer(self.h, events())
        else:
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    async def _send_statuses(self, connectors: list[int]) -> None:
        now = time.time()
        for n in connectors:
            status = connector_status(self.h.rt.station.connectors[n].status)
            self.h.status_reported(n, status)
            await self.h.send("StatusNotification", status_notification(n, status, now))

    async def _send_meter_values(self, connectors: list[int]) -> None:
        now = time.time()
        listed = measurands(self.h.dm, "AlignedDataCtrlr", "Measurands")
        for n in connectors:
            c = self.h.rt.station.connectors[n]
            value = meter_value(
                self.h.rt.station.readings.get(n), listed, "Trigger", now, c.offered_a
            )
            if value:
                await self.h.send("MeterValues", {"evseId": n, "meterValue": [value]})
