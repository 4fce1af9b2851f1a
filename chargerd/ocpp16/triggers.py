"""OCPP 1.6 Remote Trigger (§5.17 TriggerMessage): the messages the Central System may ask
the Charge Point to send now.

Accepted, and the message follows the answer; Rejected when the request names a connector
this station does not have (or connector 0 for MeterValues: there is no station meter);
NotImplemented for a message this station cannot send. DiagnosticsStatusNotification and
FirmwareStatusNotification report the upload's / update's status now (firmware.py), Idle when
none runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..adapter import Runtime
from ..outbox import Outbox
from ..store import Store
from .payloads import meter_value

if TYPE_CHECKING:
    from .firmware import Firmware16

ANSWER_FIRST_S = 0.02  # the triggered message goes after TriggerMessage.conf

PER_CONNECTOR = {"MeterValues", "StatusNotification"}
FIRMWARE = {"DiagnosticsStatusNotification", "FirmwareStatusNotification"}


class TriggerHost(Protocol):
    """What the triggers need of the 1.6 adapter."""

    rt: Runtime
    outbox: Outbox
    store: Store
    registration: str

    @property
    def firmware(self) -> Firmware16: ...

    def spawn(self, coroutine: Awaitable[Any]) -> None: ...

    def trigger_boot(self) -> None:
        """Send a BootNotification now (while not registered: the next attempt now)."""
        ...

    def report_status_again(self, connectors: list[int]) -> None:
        """StatusNotification for `connectors` (0: the station), whether changed or not."""
        ...

    def sampled_measurands(self) -> list[str]: ...


def trigger_message(host: TriggerHost, p: dict[str, Any]) -> dict[str, str]:
    """The TriggerMessage.conf; the message itself is sent after it."""
    requested, connector = p["requestedMessage"], p.get("connectorId")
    connectors = sorted(host.rt.station.connectors)
    if connector is not None and connector not in connectors:
        if not (connector == 0 and requested == "StatusNotification"):
            return {"status": "Rejected"}
    targets = [connector] if connector is not None else connectors
    if requested == "BootNotification":
        _after_answer(host, host.trigger_boot)
    elif requested == "Heartbeat":
        _after_answer(host, lambda: host.outbox.post("Heartbeat", {}))
    elif requested in FIRMWARE:
        _after_answer(host, lambda: host.outbox.post(*host.firmware.triggered(requested)))
    elif requested == "StatusNotification":
        every = [0, *connectors] if connector is None else targets
        _after_answer(host, lambda: host.report_status_again(every))
    elif requested == "MeterValues":
        _after_answer(host, lambda: _meter_values(host, targets))
    else:
        return {"status": "NotImplemented"}
    return {"status": "Accepted"}


def _meter_values(host: TriggerHost, connectors: list[int]) -> None:
    station, now = host.rt.station, time.time()
    for n in connectors:
        reading = station.readings.get(n)
        c = station.connectors[n]
        value = None
        if reading is not None:
            value = meter_value(reading, host.sampled_measurands(), "Trigger", now, c.offered_a)
        if value is None:
            continue
        payload: dict[str, Any] = {"connectorId": n, "meterValue": [value]}
        tx = c.transaction
        csms_id = host.store.csms_id(tx.id) if tx is not None else None
        if csms_id is not None:
            payload["transactionId"] = int(csms_id)
        host.outbox.post("MeterValues", payload)


def _after_answer(host: TriggerHost, action: Callable[[], None]) -> None:
    async def later() -> None:
        await asyncio.sleep(ANSWER_FIRST_S)
        action()

    host.spawn(later())
