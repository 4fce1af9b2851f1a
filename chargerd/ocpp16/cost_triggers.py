"""The `triggerMeterValue` of a 1.6 costmsg RunningCost (OCA "running cost and tariff"
extension): the CSMS asks for a MeterValues when a moment, an energy, a power or a
connector status is reached, so that it can send the next RunningCost in time (a price
period that starts, a session that reaches a tier, a car that stops drawing).

- atTime: once, at that time;
- atEnergykWh: once, when the transaction has taken that much energy;
- atPowerkW: each time the power crosses that value, upwards or downwards;
- atCPStatus: each time the connector enters one of those statuses.

`MeterTrigger` decides without I/O (time, energy, power and status are inputs); `watch`
feeds it the daemon's last reading each second while the transaction runs, and posts the
MeterValues. A newer RunningCost of the same transaction replaces the trigger.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .payloads import meter_value

if TYPE_CHECKING:
    from .adapter import Ocpp16Adapter

CHECK_S = 1.0  # the daemon reads the meters each second


@dataclass
class MeterTrigger:
    at_time: float | None = None
    at_energy_wh: float | None = None
    at_power_w: float | None = None
    at_status: frozenset[str] = frozenset()
    _above: bool | None = field(default=None, repr=False)  # power above at_power_w
    _status: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeterTrigger:
        """From a `triggerMeterValue` object (ValueError/TypeError when malformed)."""
        at_time = data.get("atTime")
        energy, power = data.get("atEnergykWh"), data.get("atPowerkW")
        statuses = data.get("atCPStatus") or []
        if not isinstance(statuses, list):
            raise TypeError("atCPStatus is not an array")
        return cls(
            at_time=_epoch(str(at_time)) if at_time is not None else None,
            at_energy_wh=float(energy) * 1000 if energy is not None else None,
            at_power_w=float(power) * 1000 if power is not None else None,
            at_status=frozenset(str(s) for s in statuses),
        )

    @property
    def empty(self) -> bool:
        return (
            self.at_time is None
            and self.at_energy_wh is None
            and self.at_power_w is None
            and not self.at_status
        )

    def check(self, now: float, energy_wh: float, power_w: float, status: str) -> list[str]:
        """The conditions met now (each asks for one MeterValues); one-off ones are spent."""
        met = []
        if self.at_time is not None and now >= self.at_time:
            met.append("atTime")
            self.at_time = None
        if self.at_energy_wh is not None and energy_wh >= self.at_energy_wh:
            met.append("atEnergykWh")
            self.at_energy_wh = None
        if self.at_power_w is not None:
            above = power_w >= self.at_power_w
            if self._above is not None and above != self._above:
                met.append("atPowerkW")
            self._above = above
        if status != self._status and self._status is not None and status in self.at_status:
            met.append("atCPStatus")
        self._status = status
        return met


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def watch(adapter: Ocpp16Adapter, transaction_id: str, trigger: MeterTrigger) -> None:
    """Check `trigger` on the transaction's connector each second until it ends."""
    station = adapter.rt.station
    while True:
        connector = next(
            (c for c in station.connectors.values()
             if c.transaction is not None and c.transaction.id == transaction_id),
            None,
        )  # fmt: skip
        if connector is None or connector.transaction is None:
            return  # the transaction ended
        tx = connector.transaction
        reading = station.readings.get(connector.id)
        now = time.time()
        if reading is not None:
            energy = reading.energy_wh - tx.meter_start_wh
            if trigger.check(now, energy, reading.power_w, str(connector.status)):
                _post(adapter, connector.id, reading, now, connector.offered_a, tx.id)
        await asyncio.sleep(CHECK_S)


def _post(
    adapter: Ocpp16Adapter, connector: int, reading: Any, now: float, offered_a: float, tx: str
) -> None:
    value = meter_value(reading, adapter.sampled_measurands(), "Trigger", now, offered_a)
    if value is None:
        return
    payload: dict[str, Any] = {"connectorId": connector, "meterValue": [value]}
    csms_id = adapter.store.csms_id(tx)
    if csms_id is not None:
        payload["transactionId"] = int(csms_id)
    adapter.outbox.post("MeterValues", payload)
