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
from .core.model import AuthorizationRejected, CoreSettings, Decision, RefusedBy
from .core.station import Station
from .parts import Parts
from .store import Store

T = TypeVar("T")


class Runtime(Protocol):
    config: Config
    store: Store
    station: Station
    parts: Parts  # the feature blocks by name (parts.py)

    async def feed(self, event: Callable[[float], T]) -> T:
        """Run `event(now)` on the core, then carry out every decision it made."""
        ...

    def lock_result(self, connector: int) -> bool:
        """Whether the last lock/unlock of `connector` moved the lock."""
        ...

    def has_lock(self, connector: int) -> bool:
        """Whether `connector` has a cable lock at all (False: unknown connector too)."""
        ...

    def request_reset(self, hard: bool, by: str = "the CSMS") -> None: ...


class Adapter(Protocol):
    subprotocol: str  # offered and required on the websocket
    settings: CoreSettings  # kept in step with the version's configuration

    def bind(self, runtime: Runtime) -> None:
        """Called once the core exists; before that only `settings` is read."""
        ...

    async def serve(self, connection: ClientConnection) -> None:
        """Run one connection to the CSMS until it closes."""
        ...

    def parts_built(self) -> None:
        """The daemon's parts exist: the blocks' messages may attach to them now."""
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

    def refusal(self, rejected: AuthorizationRejected) -> str:
        """Why an id tag was refused, in this version's words (the rule's key when a rule of
        the station refused it): for the log and `chargerctl sim tag`."""
        ...

    def ocpp_get(self, key: str) -> str:
        """`chargerctl ocpp get KEY`: "KEY = value" as GetConfiguration / GetVariables would
        read it (write-only values are never shown); ValueError says what is wrong."""
        ...

    def ocpp_set(self, key: str, value: str) -> str:
        """`chargerctl ocpp set KEY VALUE`: change it with the validation and persistence of
        ChangeConfiguration / SetVariables from the CSMS; what was done, or ValueError why not."""
        ...


def refusal_text(rejected: AuthorizationRejected, offline_key: str, unknown_key: str) -> str:
    """`Adapter.refusal` given the names of the offline rules' keys in one version."""
    status = rejected.status
    if rejected.by is RefusedBy.OFFLINE_CACHE:
        return f"refused by the offline rules ({offline_key}: the cached answer is {status})"
    if rejected.by is RefusedBy.OFFLINE_UNKNOWN:
        return (
            f"refused by the offline rules (no cached answer usable offline under {offline_key},"
            f" and {unknown_key} is false)"
        )
    if rejected.by is RefusedBy.OFFLINE_LIST:
        return f"refused by the offline rules ({offline_key}: the local list says {status})"
    if rejected.by is RefusedBy.MASTER_PASS:
        return "a master pass: it stops every transaction and starts none"
    if rejected.by is RefusedBy.NO_CONNECTOR:
        return "accepted, but no connector can start a session (faulted, unavailable or busy)"
    return f"refused by the CSMS ({status})"
