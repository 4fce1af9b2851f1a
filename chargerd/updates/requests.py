"""The CSMS's firmware and log requests read into the version-neutral requests of the
firmware block (both OCPP versions use these; their field names mostly agree)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .logs import LogRequest

if TYPE_CHECKING:  # the machine is imported when a request comes (start-up time)
    from .machine import UpdateRequest

# When the CSMS leaves them out, "left to the station" (1.6 §6.19, 2.0.1 L01.FR.xx).
DEFAULT_ATTEMPTS = 3
DEFAULT_RETRY_INTERVAL_S = 60


def epoch(text: str | None) -> float | None:
    """An RFC 3339 time as epoch seconds, its offset honoured (none given: UTC)."""
    if text is None:
        return None
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _attempts(p: dict[str, Any]) -> int:
    return max(1, int(p.get("retries", DEFAULT_ATTEMPTS)))


def _interval(p: dict[str, Any]) -> int:
    return max(0, int(p.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)))


def plain_update(p: dict[str, Any]) -> UpdateRequest:
    """1.6 UpdateFirmware: no request id, no signature."""
    from .machine import UpdateRequest

    return UpdateRequest(
        request_id=None,
        location=p["location"],
        retrieve_at=epoch(p["retrieveDate"]) or time.time(),
        retries=_attempts(p),
        retry_interval_s=_interval(p),
    )


def update(p: dict[str, Any], *, signed: bool | None = None) -> UpdateRequest:
    """1.6 SignedUpdateFirmware (always signed) / 2.0.1 UpdateFirmware (signed when the
    CSMS sends a signing certificate or a signature: L01; neither: L02)."""
    from .machine import UpdateRequest

    fw = p["firmware"]
    cert, signature = fw.get("signingCertificate"), fw.get("signature")
    return UpdateRequest(
        request_id=int(p["requestId"]),
        location=fw["location"],
        retrieve_at=epoch(fw["retrieveDateTime"]) or time.time(),
        retries=_attempts(p),
        retry_interval_s=_interval(p),
        install_at=epoch(fw.get("installDateTime")),
        signing_certificate=cert,
        signature=signature,
        signed=signed if signed is not None else (cert is not None or signature is not None),
    )


def diagnostics(p: dict[str, Any]) -> LogRequest:
    """1.6 GetDiagnostics."""
    return LogRequest(
        request_id=None,
        location=p["location"],
        oldest=epoch(p.get("startTime")),
        latest=epoch(p.get("stopTime")),
        attempts=_attempts(p),
        retry_interval_s=_interval(p),
    )


def get_log(p: dict[str, Any]) -> LogRequest:
    """GetLog (1.6 security extension, 2.0.1 N01)."""
    where = p["log"]
    return LogRequest(
        request_id=int(p["requestId"]),
        location=where["remoteLocation"],
        security_only=p["logType"] == "SecurityLog",
        oldest=epoch(where.get("oldestTimestamp")),
        latest=epoch(where.get("latestTimestamp")),
        attempts=_attempts(p),
        retry_interval_s=_interval(p),
    )
