"""What the firmware and log messages of both OCPP versions share: the adapter they answer
for, and the statuses of the updates and logs parts they report (each version in its own
words: ocpp16/firmware.py, ocpp201/firmware.py)."""

from __future__ import annotations

from typing import Any, Protocol

from ..adapter import Runtime
from ..outbox import Outbox
from ..store import Store
from .logs import LogRequest, LogUploads, UploadStatus
from .machine import FirmwareStatus


class Host(Protocol):
    """What these messages need of an adapter."""

    rt: Runtime
    outbox: Outbox
    store: Store

    def add_handlers(self, handlers: dict[str, Any]) -> None: ...


class StatusMessages:
    def __init__(self, host: Host) -> None:
        self.h = host

    def attach(self, updates: Any, logs: LogUploads) -> None:
        """Report the statuses of both parts (the log part calls it as it is made)."""
        logs.status_listeners.append(self._log_status)
        if updates is not None:
            self.attach_updates(updates)

    def attach_updates(self, updates: Any) -> None:
        updates.status_listeners.append(self._firmware_status)

    def _firmware_status(self, status: FirmwareStatus, request_id: int | None) -> None:
        raise NotImplementedError

    def _log_status(self, status: UploadStatus, req: LogRequest) -> None:
        raise NotImplementedError
