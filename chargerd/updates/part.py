"""The daemon's firmware part (daemon.parts["updates"]). Work in progress: API first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .machine import FirmwareStatus, UpdateRequest

StatusListener = Callable[[FirmwareStatus, "int | None"], None]


class Updates:
    name = "updates"

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        # every status change in order (request id beside it), also the final one after the
        # restart; FW-B posts them as (Signed)FirmwareStatusNotification
        self.status_listeners: list[StatusListener] = []

    def request(self, req: UpdateRequest, now: float) -> str:
        """Accepted | AcceptedCanceled | Rejected | InvalidCertificate | RevokedCertificate."""
        raise NotImplementedError

    def last_status(self) -> tuple[FirmwareStatus, int | None]:
        """For TriggerMessage: Idle when the last status sent was Installed or nothing
        ever happened, else the last status and its request id."""
        raise NotImplementedError

    def active(self) -> bool:
        """An update is in progress (1.6 plain answers a trigger with Idle otherwise)."""
        raise NotImplementedError

    def running_version(self) -> str:
        raise NotImplementedError

    async def run(self) -> None:
        return

    def see(self, decision: Any) -> None:
        return

    def status(self, into: dict[str, Any]) -> None:
        return
