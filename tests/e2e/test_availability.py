"""ChangeAvailability: now, scheduled after a transaction, and kept across restarts."""

from __future__ import annotations

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, wait_call


async def change_availability(csms: Csms, connector: int, kind: str) -> str:
    answer = await csms.call(
        STATION_ID, "ChangeAvailability", {"connectorId": connector, "type": kind}
    )
    return answer["status"]


async def test_inoperative_idle_connector_becomes_unavailable(csms: Csms, station: Station):
    await station.start()
    after = len(csms.ledger.entries)
    assert await change_availability(csms, 2, "Inoperative") == "Accepted"
    await wait_call(csms, "StatusNotification", after=after, connectorId=2, status="Unavailable")
    await station.wait_status(2, "Unavailable")
    assert (await station.connector(1))["status"] == "Available"


async def test_operative_makes_unavailable_connector_available(csms: Csms, station: Station):
    await station.start()
    assert await change_availability(csms, 2, "Inoperative") == "Accepted"
    await station.wait_status(2, "Unavailable")
    after = len(csms.ledger.entries)
    assert await change_availability(csms, 2, "Operative") == "Accepted"
    await wait_call(csms, "StatusNotification", after=after, connectorId=2, status="Available")
    await station.wait_status(2, "Available")


async def test_inoperative_during_transaction_is_scheduled_until_it_stops(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    assert await change_availability(csms, 1, "Inoperative") == "Scheduled"
    await station.wait_status(1, "Charging")
    assert csms.ledger.transactions[tx_id].stop_count == 0

    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert stop.payload["transactionId"] == tx_id
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Unavailable")
    await station.wait_status(1, "Unavailable")
    # an unavailable connector starts nothing
    await station.sim("tag", "TAG2", "--connector", "1")
    await station.wait_status(1, "Unavailable")
    assert calls(csms, "StartTransaction", after) == []


async def test_inoperative_survives_restart(csms: Csms, station: Station):
    await station.start()
    assert await change_availability(csms, 2, "Inoperative") == "Accepted"
    await station.wait_status(2, "Unavailable")
    mark = await station.restart()
    statuses = {
        e.payload["connectorId"]: e.payload["status"]
        for e in calls(csms, "StatusNotification", mark)
    }
    assert statuses == {0: "Available", 1: "Available", 2: "Unavailable"}
    await station.wait_status(2, "Unavailable")


async def test_inoperative_connector_0_takes_whole_station_out(csms: Csms, station: Station):
    await station.start()
    after = len(csms.ledger.entries)
    assert await change_availability(csms, 0, "Inoperative") == "Accepted"
    for connector in (0, 1, 2):
        await wait_call(
            csms, "StatusNotification", after=after, connectorId=connector, status="Unavailable"
        )
    await station.wait_status(1, "Unavailable")
    await station.wait_status(2, "Unavailable")


async def test_scheduled_inoperative_applies_when_restart_ends_the_transaction(
    csms: Csms, station: Station
):
    """ChangeAvailability answered Scheduled: the connector goes Unavailable once the
    transaction ends, also when it ends because the station restarted (OCPP 1.6 5.2:
    the availability state persists a reboot)."""
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    assert await change_availability(csms, 1, "Inoperative") == "Scheduled"
    await station.stop()
    mark = await station.start()
    stop = await wait_call(csms, "StopTransaction", after=mark)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Reboot")
    # start() has waited for the statuses of connectors 0, 1 and 2 after the restart
    reported = [
        e.payload["status"]
        for e in calls(csms, "StatusNotification", mark)
        if e.payload["connectorId"] == 1
    ]
    assert reported == ["Unavailable"]
    assert (await station.connector(1))["status"] == "Unavailable"
