"""The seam between the daemon and an OCPP version.

The daemon (`Runtime`) owns the station core, the hardware and the store; an adapter
(`Adapter`) translates between the core and one OCPP version's messages. Adding a
version means writing one class that satisfies `Adapter`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from websockets.asyncio.client import ClientConnection

from .config import Config
from .core.model import CoreSettings, Decision
from .core.station import Station
from .store import Store

T = TypeVar("T")


class Runtime(Protocol):
    config: Config
    store: Store
    station: Station

    async def feed(self, event: Callable[[float], T]) -> T:
        """Run `event(now)` on the core, then carry out every decision it made."""
        ...

    def lock_result(self, connector: int) -> bool:
        """Whether the last lock/unlock of `connector` moved the lock."""
        ...

    def has_lock(self, connector: int) -> bool:
        """Whether `connector` has a cable lock at all (False: unknown connector too)."""
        ...

    def request_reset(self, hard: bool) -> None: ...


class Adapter(Protocol):
    subprotocol: str  # offered and required on the websocket
    settings: CoreSettings  # kept in step with the version's configuration

    def bind(self, runtime: Runtime) -> None:
        """Called once the core exists; before that only `settings` is read."""
        ...

    async def serve(self, connection: ClientConnection) -> None:
        """Run one connection to the CSMS until it closes."""
        ...

    def on_decision(self, decision: Decision) -> None:
        """A decision of the core that concerns the CSMS (persist, queue, ask)."""
        ...

    def ping_interval_s(self) -> float:
        """WebSocket ping interval for the next connection (0: no pings)."""
        ...

    def flush_status(self) -> None:
        """Report connector statuses that changed since last reported."""
        ...

    def describe(self) -> dict[str, Any]:
        """Link-side facts for `chargerctl status` (registration, outbox depth, ...)."""
        ...

    def transaction_facts(self, transaction_id: str) -> dict[str, Any]:
        """For `chargerctl status`: at least "id", the id the CSMS knows the transaction by
        (or a placeholder until it is known); more where the version has it (seq_no)."""
        ...
