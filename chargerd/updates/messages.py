"""What the firmware and log messages of both OCPP versions share: the adapter they answer
for, and the statuses of the updates and logs parts they report (each version in its own
words: ocpp16/firmware.py, ocpp201/firmware.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..adapter import Runtime
from ..outbox import Outbox
from ..store import Store
from .logs import LogRequest, LogUploads, UploadStatus
from .statuses import FirmwareStatus


class Host(Protocol):
    """What these messages need of an adapter."""

    rt: Runtime
    outbox: Outbox
    store: Store

    def add_handlers(self, handlers: dict[str, Any]) -> None: ...

    def when_parts_built(self, attach: Callable[[], object]) -> None: ...


class StatusMessages:
    def __init__(self, host: Host) -> None:
        self.h = host
        host.when_parts_built(self._attach)

    def _attach(self) -> None:
        """Report the statuses of both parts, from before either runs (the status an update
        ends with after its restart is the first the updates part gives)."""
        parts = self.h.rt.parts
        logs: LogUploads = parts["logs"]  # type: ignore[assignment]
        logs.status_listeners.append(self._log_status)
        parts["updates"].status_listeners.append(self._firmware_status)  # type: ignore[attr-defined]

    def _firmware_status(self, status: FirmwareStatus, request_id: int | None) -> None:
        raise NotImplementedError

    def _log_status(self, status: UploadStatus, req: LogRequest) -> None:
        raise NotImplementedError
