"""OCPP 2.0.1 tariff and cost (I01-I08) end to end: the driver's tariff at authorization, the
running cost, the final cost, the fallback messages and the currency, as the screens and
`chargerctl status` show them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from devcsms import Csms201

from .conftest import STATION_ID
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones

TARIFF = {"format": "UTF8", "content": "0.25 EUR/kWh"}


async def connector(station: Station201, n: int = 1) -> dict[str, Any]:
    return await station.connector(n)


async def wait_for(station: Station201, what: str, check) -> dict[str, Any]:
    """Poll connector 1's status until `check(entry)` holds."""
    deadline = time.monotonic() + 12
    entry: dict[str, Any] = {}
    while time.monotonic() < deadline:
        entry = await connector(station)
        if check(entry):
            return entry
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within 12 s: {what}; connector 1: {entry}")


def shows(text: str):
    return lambda entry: text in entry["display"]["lines"]


async def set_variable(csms: Csms201, component: str, name: str, value: str, **kw) -> None:
    variable = {"name": name, **kw}
    answer = await csms.call(
        STATION_ID,
        "SetVariables",
        {"setVariableData": [{"component": {"name": component}, "variable": variable,
                              "attributeValue": value}]},
    )  # fmt: skip
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted", answer


async def test_the_drivers_tariff_shows_at_authorization_and_through_the_session(
    csms: Csms201, station: Station201
):
    csms.personal_messages["TAG1"] = TARIFF
    await station.start()
    await station.sim("tag", "TAG1")  # not plugged in yet: every free screen shows it
    status = await station.status()
    assert status["display"]["lines"] == ["0.25 EUR/kWh"]
    await station.sim("plug", "1")
    await station.wait_status(1, "Charging")
    await wait_for(station, "the tariff on connector 1", shows("0.25 EUR/kWh"))
    assert (await connector(station, 2))["display"]["lines"] == []  # it went with the driver


async def test_the_running_cost_comes_with_transaction_event_answers(
    csms: Csms201, station: Station201
):
    csms.transaction_answer = lambda p: {"total_cost": 1.5} if p["eventType"] == "Updated" else {}
    await station.start()
    await station.start_session(1)
    entry = await wait_for(
        station, "cost 1.5", lambda e: (e["transaction"] or {}).get("cost") == 1.5
    )
    assert entry["transaction"]["cost"] == 1.5
    await wait_for(station, "the cost on the screen", shows("Cost 1.50 EUR"))


async def test_updated_personal_message_replaces_the_running_text(
    csms: Csms201, station: Station201
):
    update = {"format": "UTF8", "content": "So far 0.80 EUR"}
    csms.transaction_answer = lambda p: (
        {"updated_personal_message": update} if p["eventType"] == "Updated" else {}
    )
    await station.start()
    await station.start_session(1)
    await wait_for(station, "the updated message", shows("So far 0.80 EUR"))


async def test_cost_updated_sets_the_running_cost_in_the_currency(
    csms: Csms201, station: Station201
):
    await station.start()
    await set_variable(csms, "TariffCostCtrlr", "Currency", "USD")
    tx_id = await station.start_session(1)
    answer = await csms.call(STATION_ID, "CostUpdated", {"totalCost": 2.35, "transactionId": tx_id})
    assert answer == {}
    entry = await wait_for(station, "cost 2.35", lambda e: e["transaction"]["cost"] == 2.35)
    assert entry["last_transaction"] is None
    await wait_for(station, "the cost in USD", shows("Cost 2.35 USD"))


async def test_the_final_cost_of_the_ended_event_stays_after_the_session(
    csms: Csms201, station: Station201
):
    csms.transaction_answer = lambda p: {"total_cost": 4.2} if p["eventType"] == "Ended" else {}
    await station.start()
    tx_id = await station.start_session(1)
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    entry = await wait_for(
        station, "the total", lambda e: (e["last_transaction"] or {}).get("total_cost") == 4.2
    )
    assert entry["transaction"] is None and entry["last_transaction"]["station_id"] == tx_id
    await wait_for(station, "the total on the screen", shows("Total 4.20 EUR"))


async def test_fallback_messages_when_the_csms_gives_no_tariff_and_no_cost(
    csms: Csms201, station: Station201
):
    await station.start()
    await set_variable(csms, "TariffCostCtrlr", "TariffFallbackMessage", "Standard 0.40/kWh")
    await set_variable(csms, "TariffCostCtrlr", "TotalCostFallbackMessage", "Cost: see the app")
    tx_id = await station.start_session(1)
    await wait_for(station, "the tariff fallback", shows("Standard 0.40/kWh"))
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    entry = await wait_for(station, "the total cost fallback", shows("Cost: see the app"))
    assert entry["last_transaction"]["total_cost"] is None


async def test_costs_are_not_shown_when_cost_is_disabled(csms: Csms201, station: Station201):
    await station.start()
    await set_variable(csms, "TariffCostCtrlr", "Enabled", "false", instance="Cost")
    tx_id = await station.start_session(1)
    await csms.call(STATION_ID, "CostUpdated", {"totalCost": 2.0, "transactionId": tx_id})
    entry = await connector(station)
    assert entry["transaction"]["cost"] is None and entry["display"]["lines"] == []
