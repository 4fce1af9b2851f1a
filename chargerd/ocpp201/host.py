"""What the parts answering the CSMS's requests need of the OCPP 2.0.1 adapter.

The parts (requests.py, triggers.py) are given a `Host`; the adapter is one. They never
import the adapter, so the dependency runs one way: adapter -> parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from ..adapter import Runtime
from ..config import Config
from ..local_list import LocalList
from ..store import Store
from .authorization import Authorizer
from .components import Variable
from .device_model import DeviceModel
from .transactions import TransactionEvents

if TYPE_CHECKING:
    from .smart import SmartMessages201

ANSWER_FIRST_S = 0.02  # what a request sets off starts after its answer was sent


class Host(Protocol):
    """What the request handlers need of the adapter."""

    rt: Runtime
    config: Config
    store: Store
    dm: DeviceModel
    local_list: LocalList
    events: TransactionEvents
    authorizer: Authorizer
    registration: str  # BootNotification status
    smart: SmartMessages201  # block K: RequestStartTransaction's TxProfile

    async def send(self, action: str, payload: dict[str, Any]) -> None:
        """Send a message that is not kept offline."""
        ...

    def spawn(self, coroutine: Awaitable[Any]) -> None: ...

    def variables_changed(self, changed: list[Variable], by: str = "the CSMS") -> None: ...

    def security_event(self, kind: str, info: str) -> None: ...

    def trigger_boot(self) -> None:
        """Send the next BootNotification now, with reason Triggered."""
        ...

    def reset(self, kind: str) -> None:
        """Restart the station now (kind: Immediate or OnIdle)."""
        ...

    def reset_when_idle(self) -> None: ...

    def status_reported(self, connector: int, status: str) -> None:
        """A StatusNotification with `status` was sent on request."""
        ...


def info(reason: str, text: str) -> dict[str, str]:
    """A StatusInfoType."""
    return {"reasonCode": reason[:20], "additionalInfo": text[:512]}


def after_answer(host: Host, coroutine: Awaitable[Any]) -> None:
    """Run `coroutine` once the answer to the request being handled is on its way."""

    async def later() -> None:
        await asyncio.sleep(ANSWER_FIRST_S)
        await coroutine

    host.spawn(later())


def unknown_evse(host: Host, evse: dict[str, Any]) -> dict[str, Any] | None:
    """A Rejected answer for an EVSE (and connector) this station does not have."""
    connector = evse.get("connectorId", 1)
    if evse["id"] in host.rt.station.connectors and connector == 1:
        return None
    text = f"no EVSE {evse['id']} connector {connector}"
    return {"status": "Rejected", "statusInfo": info("UnknownEvse", text)}
