"""OCPP 2.0.1 firmware update (L01 secure, L02 non-secure, L03 delayed retrieve, L04
scheduled install) and log upload (N01 GetLog).

The work is done by the firmware block (parts "updates" and "logs"); this module reads the
requests and reports every status the block gives, each with its requestId, through the
outbox's stored queue so that a status survives a lost connection and a restart (the final
Installed, InstallVerificationFailed or InstallationFailed comes after the reboot). A
TriggerMessage gets the last status again, Idle when the last one was Installed or nothing is
going on. The updates part reads ChargingStation.AllowNewSessionsPendingFirmwareUpdate from
here: whether new sessions may start while an installation waits for the running ones to end.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..updates import requests
from ..updates.logs import LogRequest, LogUploads, UploadStatus
from ..updates.messages import Host, StatusMessages
from ..updates.statuses import FirmwareStatus as F

if TYPE_CHECKING:
    from .device_model import DeviceModel

log = logging.getLogger("chargerd.ocpp201")

# why an UpdateFirmware was not Accepted, for statusInfo
WHY = {
    "Rejected": "the update cannot be started now",
    "InvalidCertificate": "the signing certificate does not chain to a trusted maker root",
    "RevokedCertificate": "the signing certificate is revoked",
}


class Host201(Host, Protocol):
    dm: DeviceModel


class Firmware201(StatusMessages):
    """The adapter's firmware and log messages (`adapter.firmware`)."""

    h: Host201

    def __init__(self, host: Host201) -> None:
        super().__init__(host)
        host.add_handlers({"UpdateFirmware": self.update_firmware, "GetLog": self.get_log})

    def _attach(self) -> None:
        super()._attach()
        self.h.rt.parts["updates"].allow_new_sessions = self._allow_new_sessions  # type: ignore[attr-defined]

    def _allow_new_sessions(self) -> bool:
        """New sessions may start on EVSEs while the station waits for all of them to be free
        to install a pending update (false: those not in use go Unavailable meanwhile)."""
        return bool(self.h.dm.value("ChargingStation", "AllowNewSessionsPendingFirmwareUpdate"))

    # --- requests --------------------------------------------------------------------------

    async def update_firmware(self, p: dict[str, Any]) -> dict[str, Any]:
        req = requests.update(p)
        status = await self.h.rt.parts["updates"].request(req, time.time())  # type: ignore[attr-defined]
        answer: dict[str, Any] = {"status": status}
        if status in WHY:
            answer["statusInfo"] = {"reasonCode": status, "additionalInfo": WHY[status]}
        return answer

    async def get_log(self, p: dict[str, Any]) -> dict[str, Any]:
        logs: LogUploads = self.h.rt.parts["logs"]  # type: ignore[assignment]
        status, name = logs.request(requests.get_log(p), time.time())
        return {"status": status, "filename": name}

    # --- statuses --------------------------------------------------------------------------

    def _firmware_status(self, status: F, request_id: int | None) -> None:
        payload: dict[str, Any] = {"status": str(status)}
        if request_id is not None:
            payload["requestId"] = request_id
        self._send("FirmwareStatusNotification", payload)

    def _log_status(self, status: UploadStatus, req: LogRequest) -> None:
        payload: dict[str, Any] = {"status": str(status)}
        if req.request_id is not None:
            payload["requestId"] = req.request_id
        self._send("LogStatusNotification", payload)

    def _send(self, action: str, payload: dict[str, Any]) -> None:
        """Kept in the outbox until the CSMS has it, across restarts."""
        self.h.store.enqueue(action, payload, None, time.time())
        self.h.outbox.wake()

    # --- TriggerMessage --------------------------------------------------------------------

    def triggered(self, requested: str) -> tuple[str, dict[str, Any]]:
        """The message a TriggerMessage for `requested` sends now (F06.FR.xx: the status of
        the update or upload in progress, else Idle)."""
        parts = self.h.rt.parts
        status: str = "Idle"
        request_id: int | None = None
        if requested == "LogStatusNotification":
            logs = parts.get("logs")
            if isinstance(logs, LogUploads):
                upload, request_id = logs.last_status()
                status = str(upload)
        else:
            updates: Any = parts.get("updates")
            if updates is not None:
                firmware, request_id = updates.last_status()
                status = str(firmware)
        payload: dict[str, Any] = {"status": status}
        if status != "Idle" and request_id is not None:
            payload["requestId"] = request_id
        return requested, payload
