"""Security events: SecurityEventNotification for the CSMS and the station's security log.

Each event is stamped when it happens, queued in the outbox's table (persisted: these are
evidence, they wait through offline periods and restarts and go out once the CSMS has
accepted the boot), and appended to `<storage.dir>/security.log`, which a CSMS fetches with
GetLog type SecurityLog. Both are bounded: at most MAX_QUEUED events wait (the oldest
non-critical one goes first), and the log rotates at LOG_MAX_BYTES into one older file.
techInfo is at most 255 characters and never holds a secret: callers describe, never quote,
credentials.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("chargerd.security")

ACTION = "SecurityEventNotification"
LOG_NAME = "security.log"
LOG_MAX_BYTES = 1_000_000  # security.log rotates into security.log.1: at most 2 MB in all
MAX_QUEUED = 500  # events waiting for the CSMS
TECH_INFO_MAX = 255

# Events the specs call critical: pushed to the CSMS whatever the monitoring level, and the
# last to be dropped when the queue is full.
CRITICAL = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot",
    "SecurityLogWasCleared", "MemoryExhaustion", "TamperDetectionActivated",
    "MaintenanceLoginAccepted",
})  # fmt: skip

# The 2.0.1 name → the OCPP 1.6 security whitepaper's name, where they differ.
NAMES_16 = {
    "InvalidCsmsCertificate": "InvalidCentralSystemCertificate",
    "InvalidChargingStationCertificate": "InvalidChargePointCertificate",
}


def timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SecurityLog:
    """The security log file: one line per event, rotated, bounded."""

    def __init__(self, storage_dir: str | Path, max_bytes: int = LOG_MAX_BYTES):
        self.path = Path(storage_dir) / LOG_NAME
        self.max_bytes = max_bytes

    def append(self, line: str) -> None:
        data = (line.replace("\n", " ") + "\n").encode()
        try:
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                os.replace(self.path, self.path.with_name(LOG_NAME + ".1"))
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as f:
                f.write(data)
        except OSError as exc:
            log.error("cannot write the security log %s: %s", self.path, exc)

    def lines(self) -> list[str]:
        """Every line, oldest first (the rotated file, then the current)."""
        found: list[str] = []
        for path in (self.path.with_name(LOG_NAME + ".1"), self.path):
            if path.exists():
                found += path.read_text(errors="replace").splitlines()
        return found


class SecurityEvents:
    """The recorder every part of the daemon reports security events to."""

    def __init__(
        self,
        store: Any,  # chargerd.store.Store: the outbox's table on its connection
        storage_dir: str | Path,
        ocpp_version: str = "2.0.1",
        wake: Callable[[], None] = lambda: None,  # the outbox: something to send
        max_queued: int = MAX_QUEUED,
    ):
        self.store = store
        self.log = SecurityLog(storage_dir)
        self.ocpp_version = ocpp_version
        self.wake = wake
        self.max_queued = max_queued

    @property
    def log_path(self) -> Path:
        """The security log, for diagnostics bundles and GetLog SecurityLog."""
        return self.log.path

    def wire_name(self, kind: str) -> str:
        return NAMES_16.get(kind, kind) if self.ocpp_version == "1.6" else kind

    def record(self, kind: str, tech_info: str, now: float | None = None) -> None:
        """Record a security event of `kind` (the 2.0.1 name; the 1.6 name is used on 1.6)."""
        now = time.time() if now is None else now
        kind = self.wire_name(kind)
        info = tech_info[:TECH_INFO_MAX]
        payload: dict[str, Any] = {"type": kind, "timestamp": timestamp(now)}
        if info:
            payload["techInfo"] = info
        self.log.append(f"{payload['timestamp']} {kind} {info}".rstrip())
        log.warning("security event %s: %s", kind, info or "-")
        try:
            self._make_room()
            self.store.enqueue(ACTION, payload, None, now)
        except Exception as exc:  # sqlite3.Error: a full disk must not stop the caller
            log.error("cannot queue the security event %s: %s", kind, exc)
            return
        self.wake()

    def _make_room(self) -> None:
        """Drop the oldest waiting event (non-critical first) when MAX_QUEUED wait; never
        the head of the outbox, which may be on the wire."""
        db = self.store.db
        queued = db.execute(
            "SELECT seq, payload FROM outbox WHERE action=? AND seq > (SELECT MIN(seq) FROM "
            "outbox) ORDER BY seq",
            (ACTION,),
        ).fetchall()
        if len(queued) < self.max_queued:
            return
        plain = [seq for seq, payload in queued if not _critical(payload)]
        victim = plain[0] if plain else queued[0][0]
        self.store.drop(victim)
        log.warning("too many security events waiting for the CSMS: dropped the oldest one")


def _critical(payload: str) -> bool:
    import json

    return json.loads(payload).get("type") in CRITICAL
