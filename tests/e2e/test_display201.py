"""OCPP 2.0.1 display messages (O01-O06) end to end: the real daemon with simulated screens
against the strict 2.0.1 CSMS; what the screens show is read from `chargerctl status`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from devcsms import Csms201

from .conftest import STATION_ID, run_cli, wait_until
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def message(id: int, text: str, priority: str = "NormalCycle", **more: Any) -> dict:
    return {"id": id, "priority": priority, "message": {"format": "UTF8", "content": text}, **more}


async def set_message(csms: Csms201, info: dict) -> str:
    answer = await csms.call(STATION_ID, "SetDisplayMessage", {"message": info})
    return answer["status"]


async def start_with_screens(station: Station201) -> None:
    """The daemon with a simulated display on each connector and on the station."""
    base = station.config

    def config() -> dict:
        out = base()
        for c in out["connectors"]:
            c["display"] = {"driver": "sim"}
        out["display"] = {"driver": "sim"}  # and one for the whole station
        return out

    station.config = config  # type: ignore[method-assign]
    await station.start()


async def lines(station: Station201, connector: int | None = None) -> list[str]:
    status = await station.status()
    if connector is None:
        return status["display"]["lines"]
    return next(c for c in status["connectors"] if c["id"] == connector)["display"]["lines"]


async def wait_lines(station: Station201, connector: int | None, expected: list[str]) -> None:
    shown: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shown = await lines(station, connector)
        if shown == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"screen {connector} shows {shown}, not {expected}")


async def test_a_message_shows_is_reported_and_cleared(csms: Csms201, station: Station201):
    await start_with_screens(station)
    assert await set_message(csms, message(1, "Welcome to Example Charging")) == "Accepted"
    await wait_lines(station, None, ["Welcome to Example Charging"])
    assert await lines(station, 1) == ["Welcome to Example Charging"]

    answer = await csms.call(STATION_ID, "GetDisplayMessages", {"requestId": 7})
    assert answer["status"] == "Accepted"
    await wait_until(lambda: 7 in csms.ledger.display_messages, "NotifyDisplayMessages")
    [page] = csms.ledger.display_messages[7]
    assert page["messageInfo"] == [message(1, "Welcome to Example Charging")]
    assert "tbc" not in page or page["tbc"] is False

    clear = await csms.call(STATION_ID, "ClearDisplayMessage", {"id": 1})
    assert clear["status"] == "Accepted"
    await wait_lines(station, 1, [])
    again = await csms.call(STATION_ID, "ClearDisplayMessage", {"id": 1})
    assert again["status"] == "Unknown"
    answer = await csms.call(STATION_ID, "GetDisplayMessages", {"requestId": 8})
    assert answer["status"] == "Unknown"


async def test_what_the_station_cannot_show_is_refused_with_the_reason(
    csms: Csms201, station: Station201
):
    await start_with_screens(station)
    html = message(1, "<b>Hi</b>")
    html["message"]["format"] = "HTML"
    assert await set_message(csms, html) == "NotSupportedMessageFormat"
    no_tx = message(2, "Thanks", transactionId="no-such-transaction")
    assert await set_message(csms, no_tx) == "UnknownTransaction"
    no_evse = message(3, "Hi", display={"name": "Display", "evse": {"id": 9}})
    assert await set_message(csms, no_evse) == "Rejected"

    answer = await csms.call(
        STATION_ID,
        "SetVariables",
        {"setVariableData": [{"component": {"name": "DisplayMessageCtrlr"},
                              "variable": {"name": "Enabled"}, "attributeValue": "false"}]},
    )  # fmt: skip
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await set_message(csms, message(4, "Hi")) == "Rejected"
    assert await lines(station, None) == []


async def test_always_front_wins_and_in_front_goes_before_the_normal_cycle(
    csms: Csms201, station: Station201
):
    await start_with_screens(station)
    assert await set_message(csms, message(1, "Normal")) == "Accepted"
    assert await set_message(csms, message(2, "In front", "InFront")) == "Accepted"
    await wait_lines(station, 1, ["In front"])
    assert await set_message(csms, message(3, "Closed at 22:00", "AlwaysFront")) == "Accepted"
    await wait_lines(station, 1, ["Closed at 22:00"])
    assert await set_message(csms, message(4, "Closed now", "AlwaysFront")) == "Accepted"
    await wait_lines(station, 1, ["Closed now"])  # the newer one replaces it
    await csms.call(STATION_ID, "ClearDisplayMessage", {"id": 4})
    await csms.call(STATION_ID, "ClearDisplayMessage", {"id": 3})
    await csms.call(STATION_ID, "ClearDisplayMessage", {"id": 2})
    await wait_lines(station, 1, ["Normal"])


async def test_a_message_for_one_evse_shows_only_there(csms: Csms201, station: Station201):
    await start_with_screens(station)
    info = message(5, "Use the other one", display={"name": "Display", "evse": {"id": 2}})
    assert await set_message(csms, info) == "Accepted"
    await wait_lines(station, 2, ["Use the other one"])
    assert await lines(station, 1) == [] and await lines(station, None) == []


async def test_a_message_shows_in_its_window_and_is_removed_when_it_ends(
    csms: Csms201, station: Station201
):
    await start_with_screens(station)
    now = time.time()
    later = message(1, "Happy hour", startDateTime=iso(now + 1.5), endDateTime=iso(now + 3))
    assert await set_message(csms, later) == "Accepted"
    assert await lines(station, 1) == []
    await wait_lines(station, 1, ["Happy hour"])
    await wait_lines(station, 1, [])
    answer = await csms.call(STATION_ID, "GetDisplayMessages", {"requestId": 1, "id": [1]})
    assert answer["status"] == "Unknown"  # removed, not only hidden


async def test_a_message_limited_to_a_state_shows_in_that_state(csms: Csms201, station: Station201):
    await start_with_screens(station)
    assert await set_message(csms, message(1, "Charging, thanks", state="Charging")) == "Accepted"
    assert await lines(station, 1) == []
    await station.start_session(1)
    await wait_lines(station, 1, ["Charging, thanks"])
    assert await lines(station, 2) == []


async def test_a_transaction_bound_message_goes_with_its_transaction(
    csms: Csms201, station: Station201
):
    await start_with_screens(station)
    tx_id = await station.start_session(1)
    assert await set_message(csms, message(9, "Enjoy, Ann", transactionId=tx_id)) == "Accepted"
    await wait_lines(station, 1, ["Enjoy, Ann"])
    assert await lines(station, 2) == []
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    await wait_lines(station, 1, [])
    answer = await csms.call(STATION_ID, "GetDisplayMessages", {"requestId": 2, "id": [9]})
    assert answer["status"] == "Unknown"


async def test_messages_survive_a_restart(csms: Csms201, station: Station201):
    await start_with_screens(station)
    assert await set_message(csms, message(3, "Kept", "InFront")) == "Accepted"
    await station.restart()
    await wait_lines(station, 1, ["Kept"])
    answer = await csms.call(STATION_ID, "GetDisplayMessages", {"requestId": 3})
    assert answer["status"] == "Accepted"
    await wait_until(lambda: 3 in csms.ledger.display_messages, "NotifyDisplayMessages")
    assert [m["id"] for m in csms.ledger.display_messages[3][0]["messageInfo"]] == [3]


async def test_many_messages_are_reported_in_pages_and_counted(csms: Csms201, station: Station201):
    await start_with_screens(station)
    for i in range(1, 11):
        assert await set_message(csms, message(i, f"Message {i}")) == "Accepted"
    answer = await csms.call(
        STATION_ID, "GetDisplayMessages", {"requestId": 4, "priority": "NormalCycle"}
    )
    assert answer["status"] == "Accepted"
    await wait_until(
        lambda: any(not p.get("tbc") for p in csms.ledger.display_messages.get(4, [])),
        "the last NotifyDisplayMessages page",
    )
    pages = csms.ledger.display_messages[4]
    assert [p.get("tbc", False) for p in pages] == [True] * (len(pages) - 1) + [False]
    assert sorted(m["id"] for p in pages for m in p["messageInfo"]) == list(range(1, 11))

    got = await csms.call(
        STATION_ID,
        "GetVariables",
        {"getVariableData": [{"component": {"name": "DisplayMessageCtrlr"},
                              "variable": {"name": "DisplayMessages"}}]},
    )  # fmt: skip
    assert got["getVariableResult"][0]["attributeValue"] == "10"


async def test_chargerctl_status_shows_the_screens(csms: Csms201, station: Station201):
    await start_with_screens(station)
    assert await set_message(csms, message(1, "Price\n0.30 EUR/kWh")) == "Accepted"
    await wait_lines(station, 1, ["Price", "0.30 EUR/kWh"])
    shown = await asyncio.to_thread(
        run_cli, "--socket", str(station.socket), "status", module="chargerd.ctl"
    )
    assert "  display: Price | 0.30 EUR/kWh" in shown.stdout.splitlines(), shown.stdout


async def test_a_message_with_a_known_id_replaces_it_and_filters_that_match_nothing_are_unknown(
    csms: Csms201, station: Station201
):
    await start_with_screens(station)
    assert await set_message(csms, message(1, "Old text")) == "Accepted"
    assert await set_message(csms, message(1, "New text", "InFront")) == "Accepted"
    await wait_lines(station, None, ["New text"])  # replaced, not shown beside it
    for request_id, asked in enumerate(
        (
            {"id": [2]},
            {"priority": "AlwaysFront"},
            {"state": "Charging"},
            {"id": [1], "priority": "NormalCycle"},
        ),  # fmt: skip
        start=10,
    ):
        answer = await csms.call(
            STATION_ID, "GetDisplayMessages", {"requestId": request_id, **asked}
        )
        assert answer["status"] == "Unknown", asked
    answer = await csms.call(
        STATION_ID, "GetDisplayMessages", {"requestId": 20, "id": [1], "priority": "InFront"}
    )
    assert answer["status"] == "Accepted"
    await wait_until(lambda: 20 in csms.ledger.display_messages, "NotifyDisplayMessages")
    assert [p["messageInfo"] for p in csms.ledger.display_messages[20]] == [
        [message(1, "New text", "InFront")]
    ]
