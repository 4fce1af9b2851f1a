"""OCPP 1.6 prices and costs (the OCA cost extension over DataTransfer, vendorId
org.openchargealliance.costmsg) end to end: the real daemon against the strict 1.6 CSMS;
what the screens show is read from `chargerctl status`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from devcsms import Csms

from .conftest import STATION_ID, Station, wait_call, wait_until

VENDOR = "org.openchargealliance.costmsg"


async def cost_message(csms: Csms, message_id: str, data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    answer = await csms.call(
        STATION_ID, "DataTransfer", {"vendorId": VENDOR, "messageId": message_id, "data": text}
    )
    return answer["status"]


async def change(csms: Csms, key: str, value: str) -> str:
    answer = await csms.call(STATION_ID, "ChangeConfiguration", {"key": key, "value": value})
    return answer["status"]


async def wait_lines(station: Station, connector: int | None, expected: list[str]) -> None:
    shown: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = await station.status()
        entry = status if connector is None else status["connectors"][connector - 1]
        shown = entry["display"]["lines"]
        if shown == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"screen {connector} shows {shown}, not {expected}")


def running_cost(transaction_id: int, cost: float, **more: Any) -> dict:
    return {
        "transactionId": transaction_id,
        "timestamp": "2026-01-01T12:00:00Z",
        "meterValue": 1234,
        "cost": cost,
        "state": "Charging",
        "chargingPrice": {"kWhPrice": 0.123, "hourPrice": 2.0, "flatFee": 0.5},
        **more,
    }


async def test_other_vendors_and_messages_are_answered_as_unknown(csms: Csms, station: Station):
    await station.start()
    other = await csms.call(STATION_ID, "DataTransfer", {"vendorId": "com.example"})
    assert other["status"] == "UnknownVendorId"
    assert await cost_message(csms, "Tariff", {}) == "UnknownMessageId"
    assert await cost_message(csms, "SetUserPrice", "not json") == "Rejected"
    assert await cost_message(csms, "SetUserPrice", {"priceText": "no token"}) == "Rejected"
    keys = await csms.call(STATION_ID, "GetConfiguration", {"key": ["CustomDisplayCostAndPrice"]})
    assert keys["configurationKey"][0]["value"] == "true"


async def test_the_users_price_shows_before_the_session_and_then_on_its_connector(
    csms: Csms, station: Station
):
    await station.start()
    price = {"idToken": "TAG1", "priceText": "0.12/kWh, no idle fee"}
    assert await cost_message(csms, "SetUserPrice", price) == "Accepted"
    await wait_lines(station, None, ["0.12/kWh, no idle fee"])
    await station.start_session(1, "TAG1")
    await wait_lines(station, 1, ["0.12/kWh, no idle fee"])
    await wait_lines(station, 2, [])


async def test_the_running_cost_is_shown_and_reported(csms: Csms, station: Station):
    await station.start()
    tx = await station.start_session(1)
    assert await cost_message(csms, "RunningCost", running_cost(tx, 1.35)) == "Accepted"
    entry = await station.connector(1)
    assert entry["transaction"]["cost"] == 1.35
    await wait_lines(station, 1, ["Cost 1.35", "1.23 kWh"])
    assert await cost_message(csms, "RunningCost", running_cost(tx + 100, 1.0)) == "Rejected"


async def test_the_final_cost_may_come_after_the_stop_transaction(csms: Csms, station: Station):
    await station.start()
    tx = await station.start_session(1)
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_call(csms, "StopTransaction", after=after, transactionId=tx)
    final = {
        "transactionId": tx,
        "cost": 3.31,
        "priceText": "Total 3.31, thanks",
        "qrCodeText": "https://example.com/i/1",
    }
    assert await cost_message(csms, "FinalCost", final) == "Accepted"
    entry = await station.connector(1)
    assert entry["last_transaction"]["total_cost"] == 3.31 and entry["transaction"] is None
    assert entry["last_transaction"]["id"] == str(tx)
    await wait_lines(station, 1, ["Total 3.31, thanks", "https://example.com/i/1"])
    unknown = {**final, "transactionId": tx + 100}
    assert await cost_message(csms, "FinalCost", unknown) == "Rejected"


async def test_texts_in_the_stations_language(csms: Csms, station: Station):
    await station.start()
    assert await change(csms, "Language", "nl") == "Accepted"
    price = {
        "idToken": "TAG1",
        "priceText": "0.12/kWh",
        "priceTextExtra": [{"format": "UTF8", "language": "nl", "content": "0,12 per kWh"}],
    }
    assert await cost_message(csms, "SetUserPrice", price) == "Accepted"
    await wait_lines(station, None, ["0,12 per kWh"])


async def test_the_default_price_shows_on_free_screens_and_its_offline_text_offline(
    csms: Csms, station: Station
):
    await station.start()
    assert await change(csms, "DefaultPrice", "not json") == "Rejected"
    default = {"priceText": "0.30/kWh", "priceTextOffline": "0.35/kWh (offline)"}
    assert await change(csms, "DefaultPrice", json.dumps(default)) == "Accepted"
    await wait_lines(station, 2, ["0.30/kWh"])
    await station.start_session(1)
    await wait_lines(station, 1, [])  # not for the driver who is charging
    await csms.stop()
    await wait_lines(station, 2, ["0.35/kWh (offline)"])
    await csms.start()
    await wait_lines(station, 2, ["0.30/kWh"])


def triggered(csms: Csms, after: int, tx: int) -> list[dict]:
    """The MeterValues with context Trigger the station sent for `tx` after entry `after`."""
    return [
        e.payload
        for e in csms.ledger.entries[after:]
        if e.kind == "call" and e.action == "MeterValues"
        and e.payload.get("transactionId") == tx
        and all(s.get("context") == "Trigger"
                for mv in e.payload["meterValue"] for s in mv["sampledValue"])
    ]  # fmt: skip


async def test_the_running_costs_trigger_asks_for_meter_values(csms: Csms, station: Station):
    await station.start()
    tx = await station.start_session(1)
    after = len(csms.ledger.entries)
    trigger = {"atCPStatus": ["SuspendedEV"], "atPowerkW": 100}
    assert (
        await cost_message(csms, "RunningCost", running_cost(tx, 1.0, triggerMeterValue=trigger))
        == "Accepted"
    )
    # the trigger's first check ran before the answer left (its task was queued first), so
    # the pause below is a change it sees; nothing is asked for before it
    paused = len(csms.ledger.entries)
    await station.sim("ev-pause", "1")  # SuspendedEV
    await wait_until(lambda: triggered(csms, after, tx), "a MeterValues the trigger asked for")
    assert len(triggered(csms, after, tx)) == 1
    assert triggered(csms, paused, tx) == triggered(csms, after, tx)
    bad = running_cost(tx, 1.0, triggerMeterValue={"atCPStatus": "SuspendedEV"})
    assert await cost_message(csms, "RunningCost", bad) == "Rejected"
