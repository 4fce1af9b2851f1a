"""OCPP 1.6 Firmware Management (UpdateFirmware, GetDiagnostics and their status
notifications) and the security extension's SignedUpdateFirmware and GetLog.

The work is done by the firmware block (parts "updates" and "logs"); this module reads
the requests and reports every status the block gives, through the outbox's stored queue so
that a status survives a lost connection and a restart (the final Installed comes after the
reboot, once the new image's BootNotification is accepted).

Plain UpdateFirmware has no request id and seven statuses. The block's others are mapped
(`PLAIN`): the scheduled, paused, verified and rebooting steps are not sent (1.6 has no word
for them and the status before still holds), nor the Downloading that goes on after a pause
(Downloading is sent once per update), InvalidSignature and InstallVerificationFailed
become InstallationFailed. SignedUpdateFirmware reports every status, with its requestId, as
SignedFirmwareStatusNotification. GetDiagnostics reports Uploading, Uploaded and
UploadFailed (every failure); GetLog reports LogStatusNotification, whose 1.6 enum has no
AcceptedCanceled (a cancelled upload is not reported).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..updates import requests
from ..updates.logs import LogRequest, LogUploads, UploadStatus
from ..updates.messages import Host, StatusMessages
from ..updates.statuses import FirmwareStatus as F

log = logging.getLogger("chargerd.ocpp16")

# the block's status -> 1.6 FirmwareStatusNotification (None: not sent)
PLAIN: dict[F, str | None] = {
    F.Idle: "Idle",
    F.DownloadScheduled: None,
    F.Downloading: "Downloading",
    F.DownloadPaused: None,
    F.Downloaded: "Downloaded",
    F.DownloadFailed: "DownloadFailed",
    F.SignatureVerified: None,
    F.InvalidSignature: "InstallationFailed",
    F.InstallScheduled: None,
    F.Installing: "Installing",
    F.InstallRebooting: None,
    F.Installed: "Installed",
    F.InstallationFailed: "InstallationFailed",
    F.InstallVerificationFailed: "InstallationFailed",
}
# what a TriggerMessage reports for each state of an update in progress
PLAIN_NOW: dict[F, str] = {
    F.DownloadScheduled: "Idle",
    F.DownloadPaused: "Downloading",
    F.SignatureVerified: "Downloaded",
    F.InstallScheduled: "Downloaded",
    F.InstallRebooting: "Installing",
}
# the block's upload status -> 1.6 DiagnosticsStatusNotification
DIAGNOSTICS: dict[UploadStatus, str] = {
    UploadStatus.Idle: "Idle",
    UploadStatus.Uploading: "Uploading",
    UploadStatus.Uploaded: "Uploaded",
}


class Firmware16(StatusMessages):
    """The adapter's firmware and diagnostics messages (`adapter.firmware`)."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        host.add_handlers({
            "UpdateFirmware": self.update_firmware,
            "SignedUpdateFirmware": self.signed_update_firmware,
            "GetDiagnostics": self.get_diagnostics,
            "GetLog": self.get_log,
        })  # fmt: skip

    # --- requests --------------------------------------------------------------------------

    async def update_firmware(self, p: dict[str, Any]) -> dict[str, Any]:
        req = requests.plain_update(p)
        answer = await self.h.rt.parts["updates"].request(req, time.time())  # type: ignore[attr-defined]
        if answer not in ("Accepted", "AcceptedCanceled"):
            log.warning("UpdateFirmware not carried out: %s (1.6 cannot refuse it)", answer)
        return {}  # the station cannot refuse a 1.6 UpdateFirmware

    async def signed_update_firmware(self, p: dict[str, Any]) -> dict[str, Any]:
        req = requests.update(p, signed=True)
        return {"status": await self.h.rt.parts["updates"].request(req, time.time())}  # type: ignore[attr-defined]

    async def get_diagnostics(self, p: dict[str, Any]) -> dict[str, Any]:
        _, name = self._logs().request(requests.diagnostics(p), time.time())
        return {"fileName": name}

    async def get_log(self, p: dict[str, Any]) -> dict[str, Any]:
        status, name = self._logs().request(requests.get_log(p), time.time())
        return {"status": status, "filename": name}

    def _logs(self) -> LogUploads:
        return self.h.rt.parts["logs"]  # type: ignore[return-value]

    # --- statuses --------------------------------------------------------------------------

    def _firmware_status(self, status: F, request_id: int | None) -> None:
        if request_id is None:
            plain = PLAIN.get(status)
            updates: Any = self.h.rt.parts["updates"]
            if status is F.Downloading and updates.resumed_download():
                plain = None  # said when the download began; a pause has no 1.6 word
            if plain is not None:
                self._send("FirmwareStatusNotification", {"status": plain})
            return
        self._send("SignedFirmwareStatusNotification", {"status": str(status),
                                                        "requestId": request_id})  # fmt: skip

    def _log_status(self, status: UploadStatus, req: LogRequest) -> None:
        if req.request_id is None:
            self._send("DiagnosticsStatusNotification",
                       {"status": DIAGNOSTICS.get(status, "UploadFailed")})  # fmt: skip
        elif status is not UploadStatus.AcceptedCanceled:
            self._send("LogStatusNotification", {"status": str(status),
                                                 "requestId": req.request_id})  # fmt: skip

    def _send(self, action: str, payload: dict[str, Any]) -> None:
        """Kept in the outbox until the CSMS has it, across restarts."""
        self.h.store.enqueue(action, payload, None, time.time())
        self.h.outbox.wake()

    # --- TriggerMessage --------------------------------------------------------------------

    def triggered(self, requested: str) -> tuple[str, dict[str, Any]]:
        """The message a TriggerMessage for `requested` sends now."""
        parts = self.h.rt.parts
        if requested == "DiagnosticsStatusNotification":
            logs = parts.get("logs")
            status = logs.last_status()[0] if isinstance(logs, LogUploads) else UploadStatus.Idle
            return requested, {"status": DIAGNOSTICS.get(status, "Idle")}
        updates: Any = parts.get("updates")
        if updates is None or not updates.active():
            return requested, {"status": "Idle"}
        status, _ = updates.last_status()
        return requested, {"status": PLAIN.get(status) or PLAIN_NOW.get(status, "Idle")}
