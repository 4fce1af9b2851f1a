"""The statuses of a firmware update, apart from the machine (machine.py): the OCPP messages
and the part name them at start-up, when no update runs and the machine is not needed (its
dataclasses cost start-up time)."""

from __future__ import annotations

from enum import StrEnum


class FirmwareStatus(StrEnum):
    Idle = "Idle"
    DownloadScheduled = "DownloadScheduled"
    Downloading = "Downloading"
    DownloadPaused = "DownloadPaused"
    Downloaded = "Downloaded"
    DownloadFailed = "DownloadFailed"
    SignatureVerified = "SignatureVerified"
    InvalidSignature = "InvalidSignature"
    InstallScheduled = "InstallScheduled"
    Installing = "Installing"
    InstallRebooting = "InstallRebooting"
    Installed = "Installed"
    InstallationFailed = "InstallationFailed"
    InstallVerificationFailed = "InstallVerificationFailed"
    # answer-level (SignedUpdateFirmware / 2.0.1 UpdateFirmware), never a state
    InvalidCertificate = "InvalidCertificate"
    RevokedCertificate = "RevokedCertificate"


S = FirmwareStatus
# an update in one of these is over (its last status is kept for TriggerMessage)
FINAL = frozenset({S.Idle, S.DownloadFailed, S.InvalidSignature, S.Installed,
                   S.InstallationFailed, S.InstallVerificationFailed})  # fmt: skip
# these cannot be cancelled by a new request: the image is being written or booted
UNSTOPPABLE = frozenset({S.Installing, S.InstallRebooting})
