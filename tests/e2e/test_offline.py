"""Connection loss: transaction messages queue up and are replayed in order (TC_036..039)."""

from __future__ import annotations

from datetime import datetime

from devcsms import Csms, LedgerEntry

from .conftest import STATION_ID, Station, calls, wait_call

TX_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")


def tx_messages(csms: Csms, after: int = 0) -> list[LedgerEntry]:
    """Transaction-related CALLs received: Start, Stop, and MeterValues of a transaction."""
    return [
        e
        for e in calls(csms, after=after)
        if e.action in TX_ACTIONS and (e.action != "MeterValues" or "transactionId" in e.payload)
    ]


def when(entry: LedgerEntry) -> datetime:
    p = entry.payload
    stamp = p["meterValue"][0]["timestamp"] if entry.action == "MeterValues" else p["timestamp"]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def go_offline(csms: Csms, station: Station) -> None:
    """Stop the CSMS once the station has nothing in flight (no answer gets lost)."""
    await station.wait_outbox(lambda depth: depth == 0, "empty before the outage")
    await csms.stop()
    await station.wait_link(connected=False)


async def test_offline_stop_and_offline_session_replayed_in_order(csms: Csms, station: Station):
    await station.start()
    first_id = await station.start_session(1, "TAG1")  # online: the tag gets cached
    await wait_call(csms, "MeterValues", transactionId=first_id)

    await go_offline(csms, station)
    await station.sim("tag", "TAG1")  # stops the first session while offline
    await station.wait_status(1, "Finishing")
    await station.sim("unplug", "1")
    await station.sim("plug", "2")
    await station.sim("tag", "TAG1")  # offline start: the cached tag is accepted
    await station.wait_status(2, "Charging")
    queued = (await station.status())["outbox_depth"]
    await station.wait_outbox(lambda depth: depth > queued, "a meter value queued offline")
    await station.sim("tag", "TAG1")
    await station.wait_status(2, "Finishing")
    assert (await station.status())["outbox_depth"] >= 4  # Stop, Start, MeterValues, Stop

    reconnect = len(csms.ledger.entries)
    await csms.start()
    await csms.wait_connected(STATION_ID)
    await station.wait_outbox(lambda depth: depth == 0, "empty after the replay")
    await station.wait_statuses_reported(after=reconnect)

    # every transaction started once and stopped once; the offline one got its own id
    ledger = csms.ledger
    assert len(ledger.transactions) == 2
    first, second = (
        ledger.transactions[first_id],
        next(t for t in ledger.transactions.values() if t.transaction_id != first_id),
    )
    assert (first.connector_id, second.connector_id) == (1, 2)
    for tx in (first, second):
        assert (tx.start_count, tx.stop_count) == (1, 1), tx
        assert tx.stop_reason == "Local"
    assert ledger.unknown_stops == []
    assert second.meter_values, "the MeterValues sampled offline were not delivered"
    stops = {e.payload["transactionId"] for e in calls(csms, "StopTransaction")}
    assert stops == {first.transaction_id, second.transaction_id}

    # chronological order, across the outage
    replay = tx_messages(csms)
    stamps = [when(e) for e in replay]
    assert stamps == sorted(stamps), [f"{e.action} {when(e)}" for e in replay]
    replayed = tx_messages(csms, reconnect)
    bounds = [(e.action, e.payload.get("transactionId")) for e in replayed]
    bounds = [b for b in bounds if b[0] != "MeterValues"]
    assert bounds == [
        ("StopTransaction", first.transaction_id),
        ("StartTransaction", None),
        ("StopTransaction", second.transaction_id),
    ]
    start2 = next(i for i, e in enumerate(replayed) if e.action == "StartTransaction")
    for i, e in enumerate(replayed):
        if e.action == "MeterValues" and e.payload["transactionId"] == second.transaction_id:
            assert start2 < i < len(replayed) - 1, "a MeterValues outside its transaction"

    # after the reconnect only the current statuses are reported
    status = await station.status()
    current = {c["id"]: c["status"] for c in status["connectors"]}
    assert current == {1: "Available", 2: "Finishing"}
    reported: dict[int, list[str]] = {}
    for e in calls(csms, "StatusNotification", reconnect):
        reported.setdefault(e.payload["connectorId"], []).append(e.payload["status"])
    assert reported == {0: ["Available"], 1: ["Available"], 2: ["Finishing"]}
    assert ledger.status[(STATION_ID, 1)] == ("Available", "NoError")
    assert ledger.status[(STATION_ID, 2)] == ("Finishing", "NoError")


async def test_offline_session_for_unknown_id_when_allowed(csms: Csms, station: Station):
    station.ocpp["AllowOfflineTxForUnknownId"] = True
    await station.start()
    await go_offline(csms, station)
    await station.sim("plug", "1")
    await station.sim("tag", "NEVER-SEEN")
    await station.wait_status(1, "Charging")
    await station.sim("tag", "NEVER-SEEN")
    await station.wait_status(1, "Finishing")

    reconnect = len(csms.ledger.entries)
    await csms.start()
    stop = await wait_call(csms, "StopTransaction", after=reconnect)
    start = calls(csms, "StartTransaction", reconnect)
    assert len(start) == 1 and start[0].index < stop.index
    assert start[0].payload["idTag"] == "NEVER-SEEN"
    (tx,) = csms.ledger.transactions.values()
    assert stop.payload["transactionId"] == tx.transaction_id
    assert (tx.start_count, tx.stop_count) == (1, 1)


async def test_offline_start_refused_after_reconnect_is_stopped_deauthorized(
    csms: Csms, station: Station
):
    station.ocpp["AllowOfflineTxForUnknownId"] = True
    csms.auth = {"STOLEN": "Blocked"}
    await station.start()
    await go_offline(csms, station)
    await station.sim("plug", "1")
    await station.sim("tag", "STOLEN")
    await station.wait_status(1, "Charging")

    reconnect = len(csms.ledger.entries)
    await csms.start()
    stop = await wait_call(csms, "StopTransaction", after=reconnect)
    (tx,) = csms.ledger.transactions.values()
    assert tx.id_tag_status == "Blocked"
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (
        tx.transaction_id,
        "DeAuthorized",
    )
    await station.wait_status(1, "Finishing")


async def test_offline_start_refused_without_stop_on_invalid_id_is_suspended(
    csms: Csms, station: Station
):
    station.ocpp.update(AllowOfflineTxForUnknownId=True, StopTransactionOnInvalidId=False)
    csms.auth = {"STOLEN": "Blocked"}
    await station.start()
    await go_offline(csms, station)
    await station.sim("plug", "1")
    await station.sim("tag", "STOLEN")
    await station.wait_status(1, "Charging")

    reconnect = len(csms.ledger.entries)
    await csms.start()
    await wait_call(csms, "StartTransaction", after=reconnect)
    await wait_call(
        csms, "StatusNotification", after=reconnect, connectorId=1, status="SuspendedEVSE"
    )
    await station.wait_status(1, "SuspendedEVSE")
    connector = await station.connector(1)
    assert connector["offered_a"] == 0  # MaxEnergyOnInvalidId 0: no more energy
    assert calls(csms, "StopTransaction", reconnect) == []
