"""The firmware update as a state machine without I/O: requests, transfer results, the
clock and the facts of the station come in; decisions come out (`take()`).

The states are the statuses OCPP reports (2.0.1 / 1.6 security extension names; the plain
1.6 adapter maps them to its smaller enum). Work in progress (API first; filled in next).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class UpdateRequest:
    """One UpdateFirmware / SignedUpdateFirmware, version-neutral. Times are epoch seconds."""

    request_id: int | None  # 1.6 plain UpdateFirmware: None
    location: str
    retrieve_at: float
    retries: int  # the number of download attempts (at least one is made)
    retry_interval_s: int
    install_at: float | None = None
    signing_certificate: str | None = None  # PEM
    signature: str | None = None  # base64
    signed: bool = False  # SignedUpdateFirmware / 2.0.1 with a certificate: must verify
