"""OCPP 1.6 prices and costs on the screen: the OCA "California Pricing" extension over
DataTransfer (vendorId `org.openchargealliance.costmsg`), on the display part.

- SetUserPrice {idToken, priceText, priceTextExtra}: the driver's price, shown before the
  session (every free screen) and then on its connector; no idToken: Rejected.
- RunningCost {transactionId, timestamp, meterValue, cost, state, chargingPrice, ...}: the
  running cost of a transaction that runs here (else Rejected), in status and on its screen;
  its triggerMeterValue asks for MeterValues (cost_triggers.py). chargingPrice, idlePrice
  and nextPeriod are not shown: the screen shows the CSMS's texts (priceText) or the cost.
- FinalCost {transactionId, cost, priceText, priceTextExtra, qrCodeText}: the final cost,
  also after the StopTransaction was sent (else Rejected).
- Other messageIds of the vendor: UnknownMessageId; other vendors: UnknownVendorId.
- DefaultPrice / DefaultPriceText (JSON keys): the price every free screen shows, the
  offline text while the CSMS cannot be reached. `Language` picks among priceTextExtra /
  priceTexts when CustomMultiLanguageMessages is on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..display.messages import money
from ..display.part import DriverTexts
from .cost_triggers import MeterTrigger, watch

if TYPE_CHECKING:
    from ..display.part import DisplayPart
    from .adapter import Ocpp16Adapter

log = logging.getLogger("chargerd.ocpp16")

VENDOR = "org.openchargealliance.costmsg"
MESSAGES = ("SetUserPrice", "RunningCost", "FinalCost")


def handlers(adapter: Ocpp16Adapter) -> dict[str, Callable[[dict], Awaitable[dict]]]:
    watchers: dict[str, asyncio.Task[None]] = {}  # a triggerMeterValue per transaction

    async def data_transfer(p: dict[str, Any]) -> dict[str, Any]:
        if p["vendorId"] != VENDOR:
            return {"status": "UnknownVendorId"}  # no other vendor extensions here
        if p.get("messageId") not in MESSAGES:
            return {"status": "UnknownMessageId"}
        part: DisplayPart | None = adapter.rt.parts.get("display")  # type: ignore[assignment]
        if part is None or not adapter.keys["CustomDisplayCostAndPrice"]:
            return {"status": "Rejected"}
        try:
            data = json.loads(p.get("data") or "")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.info("DataTransfer %s: data is not a JSON object", p["messageId"])
            return {"status": "Rejected"}
        try:
            trigger = None
            if p["messageId"] == "RunningCost" and data.get("triggerMeterValue") is not None:
                trigger = MeterTrigger.from_json(data["triggerMeterValue"])
            done = MESSAGE_HANDLERS[p["messageId"]](adapter, part, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.info("DataTransfer %s: %r missing or wrong", p["messageId"], exc)
            done = False
        if done and trigger is not None and not trigger.empty:
            tx = _station_tx(adapter, part, data["transactionId"])
            if tx is not None:
                watch_meter(tx, trigger)
        return {"status": "Accepted" if done else "Rejected"}

    def watch_meter(tx: str, trigger: MeterTrigger) -> None:
        """The newest RunningCost's trigger replaces the one before (a watch ends with its
        transaction)."""
        for ended in [t for t, task in watchers.items() if task.done()]:
            del watchers[ended]
        if (old := watchers.pop(tx, None)) is not None:
            old.cancel()
        task = watchers[tx] = asyncio.ensure_future(watch(adapter, tx, trigger))
        adapter.spawn(task)

    return {"DataTransfer": data_transfer}


def _text(adapter: Ocpp16Adapter, data: dict[str, Any], key: str = "priceText") -> str:
    """`priceText`, or the priceTextExtra entry in the station's Language."""
    if adapter.keys["CustomMultiLanguageMessages"]:
        language = str(adapter.keys["Language"]).casefold()
        for extra in data.get("priceTextExtra") or ():
            if str(extra.get("language", "")).casefold() == language:
                return str(extra["content"])
    return str(data.get(key) or "")


def _set_user_price(adapter: Ocpp16Adapter, part: DisplayPart, data: dict[str, Any]) -> bool:
    token = data.get("idToken")
    text = _text(adapter, data)
    if not token or not text:
        return False
    part.tariff(str(token), text, time.time())
    return True


def _station_tx(adapter: Ocpp16Adapter, part: DisplayPart, csms_id: Any) -> str | None:
    """The station's id of the transaction the CSMS calls `csms_id` (running or ended)."""
    label = str(int(csms_id))
    return adapter.store.tx_by_csms_id(label) or part.find_ended(label)


def _running_cost(adapter: Ocpp16Adapter, part: DisplayPart, data: dict[str, Any]) -> bool:
    tx = _station_tx(adapter, part, data["transactionId"])
    cost = float(data["cost"])
    if tx is None:
        return False
    text = _text(adapter, data)
    if not text:
        kwh = float(data.get("meterValue") or 0) / 1000
        text = f"Cost {money(cost)}" + (f"\n{kwh:.2f} kWh" if kwh else "")
    return part.running_cost(tx, cost, text)


def _final_cost(adapter: Ocpp16Adapter, part: DisplayPart, data: dict[str, Any]) -> bool:
    tx = _station_tx(adapter, part, data["transactionId"])
    cost = float(data["cost"])
    if tx is None:
        return False
    text = _text(adapter, data) or f"Total {money(cost)}"
    if data.get("qrCodeText"):
        text += "\n" + str(data["qrCodeText"])
    return part.final_cost(tx, cost, text, time.time())


MESSAGE_HANDLERS: dict[str, Callable[[Ocpp16Adapter, DisplayPart, dict[str, Any]], bool]] = {
    "SetUserPrice": _set_user_price,
    "RunningCost": _running_cost,
    "FinalCost": _final_cost,
}


def driver_texts(adapter: Ocpp16Adapter, online: bool) -> DriverTexts:
    """The default price on every free screen (its offline text while offline)."""
    if not adapter.keys["CustomDisplayCostAndPrice"]:
        return DriverTexts()
    key = "priceText" if online else "priceTextOffline"
    price = _json(adapter.keys["DefaultPrice"])
    text = str(price.get(key) or price.get("priceText") or "")
    if adapter.keys["CustomMultiLanguageMessages"]:
        language = str(adapter.keys["Language"]).casefold()
        for entry in _json(adapter.keys["DefaultPriceText"]).get("priceTexts") or ():
            if str(entry.get("language", "")).casefold() == language:
                text = str(entry.get(key) or entry.get("priceText") or text)
    return DriverTexts(default_price=text)


def _json(value: object) -> dict[str, Any]:
    try:
        found = json.loads(str(value)) if value else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
