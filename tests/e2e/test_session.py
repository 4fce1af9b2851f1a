"""Charging sessions started and stopped at the station and by the CSMS."""

from __future__ import annotations

import asyncio
from typing import Any

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, energy_values, wait_call, wait_until


async def test_local_session_with_tag_start_and_stop(csms: Csms, station: Station):
    mark = await station.start()
    await station.sim("plug", "1")
    await station.wait_status(1, "Preparing")
    await station.sim("tag", "TAG1")

    auth = await wait_call(csms, "Authorize", after=mark, idTag="TAG1")
    start = await wait_call(csms, "StartTransaction", after=auth.index, connectorId=1)
    assert start.payload["idTag"] == "TAG1"
    assert isinstance(start.payload["meterStart"], int)
    await wait_call(csms, "StatusNotification", after=mark, connectorId=1, status="Charging")
    await station.wait_status(1, "Charging")
    (tx,) = csms.ledger.active_transactions(STATION_ID)

    sample = await wait_call(
        csms, "MeterValues", after=start.index, transactionId=tx.transaction_id
    )
    assert sample.payload["connectorId"] == 1
    # let some energy flow past the start reading before stopping
    await wait_until(
        lambda: any(v > tx.meter_start for v in energy_values(tx.meter_values)),
        "a meter value above meterStart",
    )

    await station.sim("tag", "TAG1")
    stop = await wait_call(csms, "StopTransaction", after=start.index)
    assert stop.payload["transactionId"] == tx.transaction_id
    assert stop.payload["reason"] == "Local"
    assert stop.payload["meterStop"] > start.payload["meterStart"]
    assert stop.payload["meterStop"] >= max(energy_values(tx.meter_values))
    await wait_call(csms, "StatusNotification", after=stop.index, connectorId=1, status="Finishing")
    await station.wait_status(1, "Finishing")

    await station.sim("unplug", "1")
    await wait_call(csms, "StatusNotification", after=stop.index, connectorId=1, status="Available")
    await station.wait_status(1, "Available")
    assert (tx.start_count, tx.stop_count) == (1, 1)
    assert (await station.connector(1))["transaction"] is None


async def test_remote_start_then_plug_starts_transaction(csms: Csms, station: Station):
    mark = await station.start()
    answer = await csms.call(
        STATION_ID, "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE1"}
    )
    assert answer == {"status": "Accepted"}
    await station.wait_status(1, "Preparing")
    await station.sim("plug", "1")
    start = await wait_call(csms, "StartTransaction", after=mark, connectorId=1, idTag="REMOTE1")
    await station.wait_status(1, "Charging")
    (tx,) = csms.ledger.active_transactions(STATION_ID)
    assert tx.start_timestamp == start.payload["timestamp"]
    assert (await station.connector(1))["transaction"]["id"] == str(tx.transaction_id)


async def test_remote_stop_with_csms_transaction_id(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    answer = await csms.call(STATION_ID, "RemoteStopTransaction", {"transactionId": tx_id})
    assert answer == {"status": "Accepted"}
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "Remote"
    await station.wait_status(1, "Finishing")
    tx = csms.ledger.transactions[tx_id]
    assert (tx.start_count, tx.stop_count) == (1, 1)


async def test_remote_stop_of_unknown_transaction_is_rejected(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    answer = await csms.call(STATION_ID, "RemoteStopTransaction", {"transactionId": tx_id + 41})
    assert answer == {"status": "Rejected"}
    await station.wait_status(1, "Charging")
    assert calls(csms, "StopTransaction", after) == []


async def test_unplug_while_charging_stops_with_ev_disconnected(csms: Csms, station: Station):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "EVDisconnected")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Available")
    await station.wait_status(1, "Available")


async def test_unplug_without_stop_on_ev_disconnect_suspends_transaction(
    csms: Csms, station: Station
):
    station.ocpp["StopTransactionOnEVSideDisconnect"] = False
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="SuspendedEV")
    await station.wait_status(1, "SuspendedEV")
    await station.sim("plug", "1")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Charging")
    await station.wait_status(1, "Charging")
    assert calls(csms, "StopTransaction", after) == []
    assert csms.ledger.transactions[tx_id].stop_count == 0


async def test_rejected_tag_starts_no_transaction(csms: Csms, station: Station):
    csms.auth = {"BAD": "Invalid"}
    mark = await station.start()
    await station.sim("plug", "1")
    await station.wait_status(1, "Preparing")
    await station.sim("tag", "BAD")
    await wait_call(csms, "Authorize", after=mark, idTag="BAD")
    for _ in range(6):  # a moment for a wrong start to show up
        await station.wait_status(1, "Preparing")
        await asyncio.sleep(0.05)
    assert calls(csms, "StartTransaction", mark) == []
    assert (await station.connector(1))["transaction"] is None


async def test_remote_start_on_busy_connector_is_rejected(csms: Csms, station: Station):
    await station.start()
    await station.start_session(1, "TAG1")
    answer = await csms.call(
        STATION_ID, "RemoteStartTransaction", {"connectorId": 1, "idTag": "OTHER"}
    )
    assert answer == {"status": "Rejected"}
    assert len(csms.ledger.transactions) == 1


async def test_clock_aligned_samples_in_transaction_carry_its_id(csms: Csms, station: Station):
    station.ocpp["ClockAlignedDataInterval"] = 1
    station.ocpp["MeterValueSampleInterval"] = 0
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    entry = await csms.wait_for(
        lambda e: (
            e.kind == "call"
            and e.action == "MeterValues"
            and e.payload.get("connectorId") == 1
            and e.payload["meterValue"][0]["sampledValue"][0].get("context") == "Sample.Clock"
        ),
        5,
    )
    assert entry.payload.get("transactionId") == tx_id


async def test_remote_start_without_cable_times_out_after_connection_timeout(
    csms: Csms, station: Station
):
    station.ocpp["ConnectionTimeOut"] = 1
    mark = await station.start()
    answer = await csms.call(
        STATION_ID, "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE1"}
    )
    assert answer == {"status": "Accepted"}
    preparing = await wait_call(
        csms, "StatusNotification", after=mark, connectorId=1, status="Preparing"
    )
    available = await wait_call(
        csms, "StatusNotification", after=preparing.index, connectorId=1, status="Available"
    )
    assert 0.9 <= available.time - preparing.time <= 3
    await station.sim("plug", "1")
    await station.wait_status(1, "Preparing")
    assert calls(csms, "StartTransaction", mark) == []


async def test_cleared_cache_does_not_authorize_offline(csms: Csms, station: Station):
    await station.start()
    await station.start_session(1, "TAG1")
    await station.sim("tag", "TAG1")
    await station.sim("unplug", "1")
    await station.wait_status(1, "Available")
    assert await csms.call(STATION_ID, "ClearCache", {}) == {"status": "Accepted"}
    await station.wait_outbox(lambda depth: depth == 0, "empty")
    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("plug", "1")
    await station.sim("tag", "TAG1")
    for _ in range(6):  # a moment for a wrong start to show up
        await station.wait_status(1, "Preparing")
        await asyncio.sleep(0.05)
    assert (await station.connector(1))["transaction"] is None
    assert (await station.status())["outbox_depth"] == 0


async def test_ev_pause_and_resume_switch_between_suspended_ev_and_charging(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await station.sim("ev-pause", "1")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="SuspendedEV")
    await station.sim("ev-resume", "1")
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Charging")
    await station.wait_status(1, "Charging")
    assert csms.ledger.transactions[tx_id].stop_count == 0


async def test_stop_transaction_carries_stop_txn_sampled_data(csms: Csms, station: Station):
    station.ocpp["StopTxnSampledData"] = "Energy.Active.Import.Register"
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    stop = await wait_call(csms, "StopTransaction", after=after)
    data = stop.payload["transactionData"]
    contexts = [sv["context"] for mv in data for sv in mv["sampledValue"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert energy_values(data)[-1] == stop.payload["meterStop"]
    assert energy_values(data)[0] == csms.ledger.transactions[tx_id].meter_start


async def test_another_card_of_the_same_group_stops_the_transaction(csms: Csms, station: Station):
    """OCTT TC_069_CS: a card with a different idTag and the same parentIdTag stops the
    transaction (Authorize first, then StopTransaction with that card's idTag), even while
    the station's other connector has an EV waiting."""
    csms.protocols["ocpp1.6"] = with_parent_id_tags(csms, {"CARD-A": "FLEET", "CARD-B": "FLEET"})
    await station.start()
    tx_id = await station.start_session(1, "CARD-A")
    await station.sim("plug", "2")
    await station.wait_status(2, "Preparing")
    after = len(csms.ledger.entries)

    await station.sim("tag", "CARD-B")
    auth = await wait_call(csms, "Authorize", after=after, idTag="CARD-B")
    stop = await wait_call(csms, "StopTransaction", after=auth.index)
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (tx_id, "Local")
    assert stop.payload["idTag"] == "CARD-B"
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Finishing")
    assert calls(csms, "StartTransaction", after) == []
    await station.wait_status(2, "Preparing")


def with_parent_id_tags(csms: Csms, parents: dict[str, str]) -> type:
    """The dev CSMS's OCPP 1.6 session, answering Authorize with these parentIdTags."""
    from ocpp.routing import on
    from ocpp.v16.enums import Action

    base: Any = csms.protocols["ocpp1.6"]

    class WithParentIdTags(base):
        @on(Action.authorize)
        def on_authorize(self, id_tag: str, **kwargs: Any):
            answer = super().on_authorize(id_tag=id_tag, **kwargs)
            if id_tag in parents:
                answer.id_tag_info["parentIdTag"] = parents[id_tag]
            return answer

    return WithParentIdTags
