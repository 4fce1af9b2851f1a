"""UnlockConnector and Reset from the CSMS."""

from __future__ import annotations

from devcsms import Csms

from .conftest import STATION_ID, Station, wait_call


async def test_unlock_during_transaction_stops_it_with_unlock_command(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    answer = await csms.call(STATION_ID, "UnlockConnector", {"connectorId": 1})
    assert answer == {"status": "Unlocked"}
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "UnlockCommand"
    tx = csms.ledger.transactions[tx_id]
    assert (tx.start_count, tx.stop_count) == (1, 1)


async def test_soft_reset_stops_transaction_and_boots_again_in_process(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    assert await csms.call(STATION_ID, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "SoftReset")
    boot = await wait_call(csms, "BootNotification", after=stop.index)
    assert csms.ledger.boot_count[STATION_ID] == 2
    await station.wait_statuses_reported(after=boot.index)
    assert station.running
    tx = csms.ledger.transactions[tx_id]
    assert (tx.start_count, tx.stop_count) == (1, 1)
    assert (await station.status())["link"]["state"] == "connected"


async def test_hard_reset_stops_transaction_and_exits_75(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    assert await csms.call(STATION_ID, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "HardReset")
    assert await station.wait_exit() == 75
    assert csms.ledger.transactions[tx_id].stop_count == 1


async def test_hard_reset_runs_hard_command_then_exits_75(csms: Csms, station: Station):
    marker = station.dir / "rebooted"
    station.overrides.append(f"reset.hard_command=touch {marker}")
    await station.start()
    assert await csms.call(STATION_ID, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    assert await station.wait_exit() == 75
    assert marker.exists()
