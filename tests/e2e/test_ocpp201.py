"""OCPP 2.0.1 end to end: the real daemon against the strict 2.0.1 CSMS (Csms201).

Every test ends with the CSMS's ledger free of violations (seqNo gaps or repeats, schema
errors, events of unknown transactions, messages while not registered, ...).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from devcsms import Csms201, demo

from .conftest import STATION_ID, calls, wait_call, wait_until
from .conftest201 import Station201, csms, energy, station, tx_events, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


def component(name: str, evse: int | None = None, connector: int | None = None) -> dict:
    out: dict = {"name": name}
    if evse is not None:
        out["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
    return out


async def get_variable(csms: Csms201, comp: dict, name: str, **kw) -> dict:
    variable = {"name": name, **({"instance": kw["instance"]} if "instance" in kw else {})}
    answer = await csms.call(
        STATION_ID, "GetVariables", {"getVariableData": [{"component": comp, "variable": variable}]}
    )
    return answer["getVariableResult"][0]


async def set_variable(csms: Csms201, comp: dict, name: str, value: str) -> dict:
    item = {"component": comp, "variable": {"name": name}, "attributeValue": value}
    answer = await csms.call(STATION_ID, "SetVariables", {"setVariableData": [item]})
    return answer["setVariableResult"][0]


def statuses(csms: Csms201, after: int) -> list[tuple[int, str]]:
    return [
        (e.payload["evseId"], e.payload["connectorStatus"])
        for e in calls(csms, "StatusNotification", after)
    ]


# --- boot, heartbeat, status -------------------------------------------------------------------


async def test_boot_reports_power_up_and_every_evse(csms: Csms201, station: Station201):
    mark = await station.start()
    boot = await wait_call(csms, "BootNotification", after=mark)
    assert boot.payload["reason"] == "PowerUp"
    assert boot.payload["chargingStation"] == {
        "model": "e2e-model",
        "vendorName": "e2e-vendor",
        "firmwareVersion": "0.1.0",
    }
    assert sorted(statuses(csms, mark)) == [(1, "Available"), (2, "Available")]
    assert all(e.payload["connectorId"] == 1 for e in calls(csms, "StatusNotification", mark))
    status = await station.status()
    assert (status["ocpp_version"], status["registration"]) == ("2.0.1", "Accepted")
    assert station.handshake_ok()


async def test_heartbeat_at_the_interval_of_the_boot_answer(csms: Csms201, station: Station201):
    csms.heartbeat_interval = 1
    mark = await station.start()
    first = await wait_call(csms, "Heartbeat", after=mark, timeout=3)
    second = await wait_call(csms, "Heartbeat", after=first.index + 1, timeout=3)
    assert 0.7 < second.time - first.time < 2.0
    answer = await get_variable(csms, component("OCPPCommCtrlr"), "HeartbeatInterval")
    assert answer["attributeValue"] == "1"


async def test_pending_boot_sends_nothing_else_but_answers_and_reports(
    csms: Csms201, station: Station201
):
    csms.boot_status, csms.boot_interval = "Pending", 30
    mark = await station.start(wait=False)
    await wait_call(csms, "BootNotification", after=mark)
    # the CSMS may configure a Pending station; the station answers (the ledger flags
    # anything it sends unasked)
    answer = await set_variable(csms, component("TxCtrlr"), "EVConnectionTimeOut", "45")
    assert answer["attributeStatus"] == "Accepted"
    report = await csms.call(
        STATION_ID, "GetBaseReport", {"requestId": 5, "reportBase": "SummaryInventory"}
    )
    assert report == {"status": "Accepted"}
    await wait_until(
        lambda: csms.ledger.reports.get(5, [{}])[-1].get("tbc") is False, "the whole report"
    )
    assert calls(csms, "StatusNotification", mark) == []
    # a triggered boot comes at once, with reason Triggered
    csms.boot_status = "Accepted"
    after = len(csms.ledger.entries)
    trigger = await csms.call(
        STATION_ID, "TriggerMessage", {"requestedMessage": "BootNotification"}
    )
    assert trigger == {"status": "Accepted"}
    boot = await wait_call(csms, "BootNotification", after=after)
    assert boot.payload["reason"] == "Triggered"
    await station.wait_statuses_reported(after)
    assert (await get_variable(csms, component("TxCtrlr"), "EVConnectionTimeOut"))[
        "attributeValue"
    ] == "45"


async def test_rejected_boot_is_retried_at_the_interval(csms: Csms201, station: Station201):
    csms.boot_status, csms.boot_interval = "Rejected", 1
    mark = await station.start(wait=False)
    first = await wait_call(csms, "BootNotification", after=mark)
    await station.sim("plug", "1")  # a change that would be reported if it could be
    second = await wait_call(csms, "BootNotification", after=first.index + 1, timeout=3)
    assert 0.7 < second.time - first.time < 2.5
    csms.boot_status = "Accepted"
    third = await wait_call(csms, "BootNotification", after=second.index + 1, timeout=3)
    await station.wait_statuses_reported(third.index)
    assert (1, "Occupied") in statuses(csms, third.index)


# --- transactions ----------------------------------------------------------------------------


async def test_local_session_started_updated_ended(csms: Csms201, station: Station201):
    mark = await station.start()
    await station.sim("plug", "1")
    await wait_call(csms, "StatusNotification", after=mark, evseId=1, connectorStatus="Occupied")
    await station.sim("tag", "TAG1")
    auth = await wait_call(csms, "Authorize", after=mark)
    assert auth.payload["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
    started = await wait_tx_event(csms, "Started", after=mark)
    p = started.payload
    tx_id = p["transactionInfo"]["transactionId"]
    assert len(tx_id) <= 36
    assert (p["triggerReason"], p["seqNo"], p["evse"]) == (
        "Authorized",
        0,
        {"id": 1, "connectorId": 1},
    )
    assert p["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
    assert p["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
    assert "offline" not in p
    await wait_tx_event(csms, "Updated", after=mark, chargingState="Charging")
    tx = station.tx(tx_id)
    await wait_until(
        lambda: sum(t == "MeterValuePeriodic" for t in tx.trigger_reasons) >= 2,
        "two periodic meter values",
    )
    status = await station.status()
    connector = next(c for c in status["connectors"] if c["id"] == 1)
    assert connector["transaction"]["id"] == tx_id
    assert connector["transaction"]["seq_no"] >= tx.seq_nos[-1]
    await station.sim("tag", "TAG1")
    ended = await wait_tx_event(csms, "Ended", after=mark)
    info = ended.payload["transactionInfo"]
    assert (info["stoppedReason"], ended.payload["triggerReason"]) == ("Local", "StopAuthorized")
    assert ended.payload["idToken"]["idToken"] == "TAG1"
    contexts = [mv["sampledValue"][0]["context"] for mv in ended.payload["meterValue"]]
    assert contexts[-1] == "Transaction.End"
    assert tx.seq_nos == list(range(len(tx.events)))
    values = energy(tx.meter_values)
    assert values[-1] > values[0]
    periodic = [
        e for e in tx.events if e["triggerReason"] == "MeterValuePeriodic"
    ]  # Energy and Power, Sample.Periodic
    sampled = periodic[0]["meterValue"][0]["sampledValue"]
    assert {s["measurand"] for s in sampled} == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
    }
    assert all(s["context"] == "Sample.Periodic" for s in sampled)
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")
    await wait_call(csms, "StatusNotification", after=after, evseId=1, connectorStatus="Available")
    assert tx.ended and csms.ledger.active_transactions() == []


async def test_ev_unplugged_ends_with_ev_disconnected(csms: Csms201, station: Station201):
    await station.start()
    tx_id = await station.start_session(2, "TAG2")
    await station.sim("unplug", "2")
    ended = await wait_tx_event(csms, "Ended", transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended.payload["triggerReason"] == "EVCommunicationLost"
    assert ended.payload["transactionInfo"]["chargingState"] == "Idle"


async def test_ev_pause_and_resume_are_charging_state_changes(csms: Csms201, station: Station201):
    await station.start()
    tx_id = await station.start_session(1)
    await station.sim("ev-pause", "1")
    await wait_tx_event(csms, "Updated", chargingState="SuspendedEV")
    await station.sim("ev-resume", "1")
    await wait_until(lambda: station.tx(tx_id).charging_states[-1:] == ["Charging"], "Charging")
    assert station.tx(tx_id).charging_states[-3:] == ["Charging", "SuspendedEV", "Charging"]


async def test_remote_start_and_stop_with_remote_start_id(csms: Csms201, station: Station201):
    mark = await station.start()
    request = {
        "idToken": {"idToken": "REMOTE1", "type": "Central"},
        "remoteStartId": 77,
        "evseId": 1,
    }
    answer = await csms.call(STATION_ID, "RequestStartTransaction", request)
    assert answer["status"] == "Accepted"
    await wait_call(csms, "Authorize", after=mark)  # AuthorizeRemoteStart is true
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started", after=mark)
    tx_id = started.payload["transactionInfo"]["transactionId"]
    assert started.payload["transactionInfo"]["remoteStartId"] == 77
    assert started.payload["triggerReason"] == "CablePluggedIn"
    assert started.payload["idToken"] == {"idToken": "REMOTE1", "type": "Central"}
    assert station.tx(tx_id).remote_start_id == 77

    unknown = await csms.call(STATION_ID, "RequestStopTransaction", {"transactionId": "nope"})
    assert unknown == {"status": "Rejected"}
    stop = await csms.call(STATION_ID, "RequestStopTransaction", {"transactionId": tx_id})
    assert stop == {"status": "Accepted"}
    ended = await wait_tx_event(csms, "Ended", transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Remote"
    assert ended.payload["triggerReason"] == "RemoteStop"


async def test_remote_start_on_a_waiting_ev_answers_the_transaction_id(
    csms: Csms201, station: Station201
):
    station.set_ocpp("AuthCtrlr", "AuthorizeRemoteStart", False)
    mark = await station.start()
    await station.sim("plug", "2")
    await wait_call(csms, "StatusNotification", after=mark, evseId=2, connectorStatus="Occupied")
    request = {"idToken": {"idToken": "APP", "type": "Central"}, "remoteStartId": 5}
    answer = await csms.call(STATION_ID, "RequestStartTransaction", request)
    assert answer["status"] == "Accepted"
    started = await wait_tx_event(csms, "Started", after=mark)
    assert answer["transactionId"] == started.payload["transactionInfo"]["transactionId"]
    assert started.payload["triggerReason"] == "RemoteStart"
    assert calls(csms, "Authorize", mark) == []
    busy = await csms.call(STATION_ID, "RequestStartTransaction", {**request, "evseId": 2})
    assert busy["status"] == "Rejected"


async def test_transaction_status_and_unlock(csms: Csms201, station: Station201):
    await station.start()
    tx_id = await station.start_session(1)
    status = await csms.call(STATION_ID, "GetTransactionStatus", {"transactionId": tx_id})
    assert status["ongoingIndicator"] is True and isinstance(status["messagesInQueue"], bool)
    unknown = await csms.call(STATION_ID, "GetTransactionStatus", {"transactionId": "x"})
    assert unknown == {"ongoingIndicator": False, "messagesInQueue": False}
    assert "messagesInQueue" in await csms.call(STATION_ID, "GetTransactionStatus", {})
    busy = await csms.call(STATION_ID, "UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert busy == {"status": "OngoingAuthorizedTransaction"}
    free = await csms.call(STATION_ID, "UnlockConnector", {"evseId": 2, "connectorId": 1})
    assert free == {"status": "Unlocked"}
    missing = await csms.call(STATION_ID, "UnlockConnector", {"evseId": 9, "connectorId": 1})
    assert missing == {"status": "UnknownConnector"}


async def test_transaction_event_is_retried_after_an_error_and_a_lost_answer(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    csms.fail_next("TransactionEvent", 1, "error")  # Started: CALLERROR, not processed
    csms.fail_next("TransactionEvent", 1, "drop_answer")  # its retry: processed, answer lost
    await station.sim("plug", "1")
    await station.sim("tag", "TAG1")
    tx_id = (await wait_tx_event(csms, "Started", after=mark)).payload["transactionInfo"][
        "transactionId"
    ]
    await wait_until(lambda: tx_id in csms.ledger.transactions, "the retried Started")
    tx = station.tx(tx_id)
    await wait_until(lambda: len(tx.events) >= 3, "the events after the retried Started")
    sent = [e["seqNo"] for e in tx_events(csms, tx_id, mark)]
    assert sent[:3] == [0, 0, 0]  # error, lost answer, accepted
    assert tx.seq_nos[:2] == [0, 0] and tx.events[0]["eventType"] == "Started"


# --- offline, restarts -----------------------------------------------------------------------


async def test_connection_loss_during_a_transaction_replays_in_order_offline(
    csms: Csms201, station: Station201
):
    """TC_E_40: events of the outage come after the reconnect, in seqNo order, Updated
    with meter values, flagged offline."""
    await station.start()
    tx_id = await station.start_session(1)
    tx = station.tx(tx_id)
    await station.wait_outbox(lambda depth: depth == 0, "empty before the outage")
    await csms.stop()
    await station.wait_link(connected=False)
    await station.wait_outbox(lambda depth: depth >= 2, "events queued offline")
    await station.sim("tag", "TAG1")  # stopped while offline
    await station.wait_status(1, "Finishing")
    online_count = len(tx.events)
    await csms.start()
    await wait_until(lambda: tx.ended, "the Ended event after the reconnect", timeout=8)
    replayed = tx.events[online_count:]
    assert replayed and all(e.get("offline") is True for e in replayed)
    assert [e["eventType"] for e in replayed][-1] == "Ended"
    assert all(e.get("meterValue") for e in replayed if e["eventType"] == "Updated")
    assert tx.seq_nos == list(range(len(tx.events)))
    assert tx.offline_seq_nos == [e["seqNo"] for e in replayed]
    assert not any(e.get("offline") for e in tx.events[:online_count])
    await station.wait_outbox(lambda depth: depth == 0, "empty after the replay")


async def test_kill_mid_transaction_ends_it_with_power_loss_and_seq_no_goes_on(
    csms: Csms201, station: Station201
):
    await station.start()
    tx_id = await station.start_session(1)
    tx = station.tx(tx_id)
    await wait_until(lambda: len(energy(tx.meter_values)) >= 2, "meter values at the CSMS")
    last_seen = max(energy(tx.meter_values))
    station.kill()
    mark = await station.start()
    boot = await wait_call(csms, "BootNotification", after=mark)
    assert boot.payload["reason"] == "PowerUp"
    ended = await wait_tx_event(csms, "Ended", after=mark, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "PowerLoss"
    # gap-free numbering goes on; an event confirmed just before the kill may come again with
    # its own seqNo (the ledger accepts only an identical repeat: recognised, not counted)
    assert ended.payload["seqNo"] == max(n for n in tx.seq_nos if n != ended.payload["seqNo"]) + 1
    assert sorted(set(tx.seq_nos)) == list(range(len(tx.events)))
    assert energy(ended.payload["meterValue"])[-1] >= last_seen
    assert (await station.connector(1))["transaction"] is None
    await station.wait_outbox(lambda depth: depth == 0, "empty")


async def test_sigterm_then_start_ends_the_open_transaction_with_reboot(
    csms: Csms201, station: Station201
):
    await station.start()
    tx_id = await station.start_session(1)
    await station.stop()
    mark = await station.start()
    ended = await wait_tx_event(csms, "Ended", after=mark, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Reboot"


async def test_offline_start_from_the_local_list(csms: Csms201, station: Station201):
    await station.start()
    entries = [
        {
            "idToken": {"idToken": "LISTED", "type": "ISO15693"},
            "idTokenInfo": {"status": "Accepted"},
        },
        {
            "idToken": {"idToken": "BARRED", "type": "ISO14443"},
            "idTokenInfo": {"status": "Blocked"},
        },
    ]
    sent = await csms.call(
        STATION_ID,
        "SendLocalList",
        {"versionNumber": 3, "updateType": "Full", "localAuthorizationList": entries},
    )
    assert sent == {"status": "Accepted"}
    assert await csms.call(STATION_ID, "GetLocalListVersion", {}) == {"versionNumber": 3}
    stale = await csms.call(
        STATION_ID, "SendLocalList", {"versionNumber": 3, "updateType": "Differential"}
    )
    assert stale == {"status": "VersionMismatch"}
    entries_var = await get_variable(csms, component("LocalAuthListCtrlr"), "Entries")
    assert entries_var["attributeValue"] == "2"

    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("plug", "1")
    await station.sim("tag", "BARRED", "--connector", "1")
    await station.sim("tag", "LISTED", "--connector", "1")
    await station.wait_status(1, "Charging")
    mark = len(csms.ledger.entries)
    await csms.start()
    started = await wait_tx_event(csms, "Started", after=mark)
    assert started.payload["offline"] is True
    assert started.payload["idToken"] == {"idToken": "LISTED", "type": "ISO15693"}
    assert calls(csms, "Authorize", mark) == []


async def test_offline_unknown_tag_is_refused_by_default(csms: Csms201, station: Station201):
    await station.start()
    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("plug", "1")
    await station.sim("tag", "STRANGER", "--connector", "1")
    await asyncio.sleep(0.3)
    assert (await station.connector(1))["transaction"] is None


async def test_offline_unknown_id_started_then_deauthorized_by_the_csms(
    csms: Csms201, station: Station201
):
    """TC_C_26-like: an unknown id starts offline (OfflineTxForUnknownIdEnabled); after
    the reconnect the CSMS answers the Started event Invalid: StopTxOnInvalidId ends it."""
    station.set_ocpp("AuthCtrlr", "OfflineTxForUnknownIdEnabled", True)
    csms.auth = {"STRANGER": "Invalid"}
    await station.start()
    await csms.stop()
    await station.wait_link(connected=False)
    await station.sim("plug", "1")
    await station.sim("tag", "STRANGER", "--connector", "1")
    await station.wait_status(1, "Charging")
    mark = len(csms.ledger.entries)
    await csms.start()
    started = await wait_tx_event(csms, "Started", after=mark)
    assert started.payload["offline"] is True
    ended = await wait_tx_event(csms, "Ended", after=mark)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert ended.payload["triggerReason"] == "Deauthorized"
    assert "offline" not in ended.payload
    await station.wait_status(1, "Finishing")


# --- device model ----------------------------------------------------------------------------


async def test_get_and_set_variables_statuses(csms: Csms201, station: Station201):
    await station.start()
    data = [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "attributeType": "MaxSet",
        },
        {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "X"}},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "NoSuch"}},
        {
            "component": component("EVSE", 2),
            "variable": {"name": "Power"},
            "attributeType": "MaxSet",
        },
        {"component": component("Connector", 1, 1), "variable": {"name": "AvailabilityState"}},
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
        },
    ]
    answer = await csms.call(STATION_ID, "GetVariables", {"getVariableData": data})
    results = answer["getVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "NotSupportedAttributeType",
        "UnknownComponent",
        "UnknownVariable",
        "Accepted",
        "Accepted",
        "Accepted",
    ]
    assert [r.get("attributeValue") for r in results] == [
        "300",
        None,
        None,
        None,
        "22080",
        "Available",
        "3",
    ]
    assert results[2]["component"] == {"name": "NoSuchCtrlr"}  # echoed as asked

    changes = [
        ("OCPPCommCtrlr", "OfflineThreshold", "120", "Accepted"),
        ("ChargingStation", "Model", "x", "Rejected"),
        ("TxCtrlr", "TxStartPoint", "DataSigned", "Rejected"),
        (
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "Energy.Active.Import.Register,Voltage",
            "Accepted",
        ),
        ("AuthCtrlr", "LocalPreAuthorize", "maybe", "Rejected"),
        ("NoSuchCtrlr", "X", "1", "UnknownComponent"),
    ]
    items = [
        {"component": {"name": c}, "variable": {"name": v}, "attributeValue": value}
        for c, v, value, _ in changes
    ]
    answer = await csms.call(STATION_ID, "SetVariables", {"setVariableData": items})
    results = answer["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == [status for *_, status in changes]
    assert results[1]["attributeStatusInfo"]["reasonCode"] == "ReadOnly"
    assert "DataSigned" in results[2]["attributeStatusInfo"]["additionalInfo"]


async def test_variables_set_by_the_csms_survive_a_restart_and_take_effect(
    csms: Csms201, station: Station201
):
    await station.start()
    answer = await set_variable(csms, component("OCPPCommCtrlr"), "OfflineThreshold", "77")
    assert answer["attributeStatus"] == "Accepted"
    answer = await set_variable(
        csms, component("SampledDataCtrlr"), "TxUpdatedMeasurands", "Current.Import"
    )
    assert answer["attributeStatus"] == "Accepted"
    await station.restart()
    threshold = await get_variable(csms, component("OCPPCommCtrlr"), "OfflineThreshold")
    assert threshold["attributeValue"] == "77"
    tx_id = await station.start_session(1)
    tx = station.tx(tx_id)
    await wait_until(lambda: "MeterValuePeriodic" in tx.trigger_reasons, "a periodic sample")
    periodic = next(e for e in tx.events if e["triggerReason"] == "MeterValuePeriodic")
    sampled = periodic["meterValue"][0]["sampledValue"]
    assert {s["measurand"] for s in sampled} == {"Current.Import"}
    assert {s.get("phase") for s in sampled} == {"L1", "L2", "L3"}


async def test_yaml_values_seed_the_device_model(csms: Csms201, station: Station201):
    station.set_ocpp("TxCtrlr", "EVConnectionTimeOut", 33)
    station.set_ocpp("OCPPCommCtrlr", "MessageAttempts", 4)
    await station.start()
    timeout = await get_variable(csms, component("TxCtrlr"), "EVConnectionTimeOut")
    attempts = await get_variable(
        csms, component("OCPPCommCtrlr"), "MessageAttempts", instance="TransactionEvent"
    )
    assert (timeout["attributeValue"], attempts["attributeValue"]) == ("33", "4")


@pytest.mark.parametrize("base", ["FullInventory", "ConfigurationInventory", "SummaryInventory"])
async def test_get_base_report_is_paged_notify_report(
    csms: Csms201, station: Station201, base: str
):
    await station.start()
    answer = await csms.call(STATION_ID, "GetBaseReport", {"requestId": 42, "reportBase": base})
    assert answer == {"status": "Accepted"}
    await wait_until(
        lambda: csms.ledger.reports.get(42, [{"tbc": True}])[-1].get("tbc") is False,
        "the last NotifyReport page",
    )
    pages = csms.ledger.reports[42]
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert all(len(p.get("reportData", [])) <= 20 for p in pages)
    data = csms.ledger.report(42)
    names = {(d["component"]["name"], d["variable"]["name"]) for d in data}
    if base == "FullInventory":
        assert len(pages) > 1
        assert ("OCPPCommCtrlr", "HeartbeatInterval") in names
        assert ("ChargingStation", "Model") in names
    elif base == "ConfigurationInventory":
        assert ("TxCtrlr", "TxStartPoint") in names
        assert ("ChargingStation", "Model") not in names
    else:
        assert ("EVSE", "AvailabilityState") in names
        assert ("OCPPCommCtrlr", "HeartbeatInterval") not in names


# --- remote control --------------------------------------------------------------------------


async def test_change_availability_of_station_and_evse(csms: Csms201, station: Station201):
    mark = await station.start()
    off = await csms.call(STATION_ID, "ChangeAvailability", {"operationalStatus": "Inoperative"})
    assert off == {"status": "Accepted"}
    await wait_until(
        lambda: {(1, "Unavailable"), (2, "Unavailable")} <= set(statuses(csms, mark)),
        "both EVSEs Unavailable",
    )
    state = await get_variable(csms, component("ChargingStation"), "AvailabilityState")
    assert state["attributeValue"] == "Unavailable"
    after = len(csms.ledger.entries)
    on = await csms.call(STATION_ID, "ChangeAvailability", {"operationalStatus": "Operative"})
    assert on == {"status": "Accepted"}
    await wait_until(
        lambda: {(1, "Available"), (2, "Available")} <= set(statuses(csms, after)),
        "both EVSEs Available",
    )

    tx_id = await station.start_session(1)
    request = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    assert await csms.call(STATION_ID, "ChangeAvailability", request) == {"status": "Scheduled"}
    bad = await csms.call(
        STATION_ID, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 7}}
    )
    assert bad["status"] == "Rejected"
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    await wait_tx_event(csms, "Ended", transactionId=tx_id)
    await wait_call(
        csms, "StatusNotification", after=after, evseId=1, connectorStatus="Unavailable"
    )
    await station.restart()  # persisted
    assert (await station.connector(1))["status"] == "Unavailable"


async def test_trigger_message(csms: Csms201, station: Station201):
    mark = await station.start()

    async def trigger(message: str, **extra) -> dict:
        return await csms.call(STATION_ID, "TriggerMessage", {"requestedMessage": message, **extra})

    assert await trigger("Heartbeat") == {"status": "Accepted"}
    await wait_call(csms, "Heartbeat", after=mark)
    after = len(csms.ledger.entries)
    assert await trigger("StatusNotification", evse={"id": 2, "connectorId": 1}) == {
        "status": "Accepted"
    }
    status = await wait_call(csms, "StatusNotification", after=after)
    assert (status.payload["evseId"], status.payload["connectorStatus"]) == (2, "Available")
    assert await trigger("MeterValues", evse={"id": 1}) == {"status": "Accepted"}
    values = await wait_call(csms, "MeterValues", after=mark)
    assert values.payload["evseId"] == 1
    assert values.payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert (await trigger("TransactionEvent"))["status"] == "Rejected"  # none running
    assert (await trigger("BootNotification"))["status"] == "Rejected"  # Accepted already
    after = len(csms.ledger.entries)
    assert await trigger("LogStatusNotification") == {"status": "Accepted"}
    log_status = await wait_call(csms, "LogStatusNotification", after=after)
    assert log_status.payload == {"status": "Idle"}  # no upload running: Idle, no requestId
    assert (await trigger("Heartbeat", evse={"id": 5}))["status"] == "Rejected"

    tx_id = await station.start_session(2)
    assert await trigger("TransactionEvent", evse={"id": 2}) == {"status": "Accepted"}
    await wait_until(lambda: "Trigger" in station.tx(tx_id).trigger_reasons, "a triggered event")
    event = next(e for e in station.tx(tx_id).events if e["triggerReason"] == "Trigger")
    assert event["eventType"] == "Updated"
    assert event["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


async def test_reset_immediate_reboots_with_remote_reset(csms: Csms201, station: Station201):
    await station.start()
    tx_id = await station.start_session(1)
    after = len(csms.ledger.entries)
    assert await csms.call(STATION_ID, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    ended = await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert ended.payload["triggerReason"] == "ResetCommand"
    boot = await wait_call(csms, "BootNotification", after=after)
    assert boot.payload["reason"] == "RemoteReset"
    assert any(e["type"] == "ResetOrReboot" for e in csms.ledger.security_events)
    await station.wait_statuses_reported(boot.index)
    assert station.running  # a soft reset restarts in-process
    await station.restart()  # the next start is a plain power-up again
    assert csms.ledger.boot_info[STATION_ID]["reason"] == "PowerUp"


async def test_reset_on_idle_waits_for_the_transaction(csms: Csms201, station: Station201):
    await station.start()
    tx_id = await station.start_session(1)
    assert await csms.call(STATION_ID, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    await asyncio.sleep(0.3)
    assert not station.tx(tx_id).ended
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    ended = await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Local"
    boot = await wait_call(csms, "BootNotification", after=after)
    assert boot.payload["reason"] == "RemoteReset"


async def test_fault_is_a_notify_event_and_a_faulted_status(csms: Csms201, station: Station201):
    mark = await station.start()
    await station.sim("fault", "2", "GroundFailure")
    await wait_call(csms, "StatusNotification", after=mark, evseId=2, connectorStatus="Faulted")
    raised = await wait_call(csms, "NotifyEvent", after=mark)
    (data,) = raised.payload["eventData"]
    assert data["component"] == {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}
    assert (data["variable"], data["actualValue"], data["trigger"]) == (
        {"name": "Problem"},
        "true",
        "Delta",
    )
    assert data["techCode"] == "GroundFailure"
    await station.sim("clear", "2")
    cleared = await wait_call(csms, "NotifyEvent", after=raised.index + 1)
    assert cleared.payload["eventData"][0]["cleared"] is True
    assert cleared.payload["eventData"][0]["eventId"] > data["eventId"]


async def test_other_requests(csms: Csms201, station: Station201):
    await station.start()
    assert await csms.call(STATION_ID, "ClearCache", {}) == {"status": "Accepted"}
    transfer = await csms.call(STATION_ID, "DataTransfer", {"vendorId": "acme"})
    assert transfer == {"status": "UnknownVendorId"}
    profile = {
        "configurationSlot": 1,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": "wss://csms.example/ocpp",
            "messageTimeout": 30,
            "securityProfile": 2,
            "ocppInterface": "Wired0",
        },
    }
    assert await csms.call(STATION_ID, "SetNetworkProfile", profile) == {"status": "Accepted"}
    await wait_until(
        lambda: any(
            e["type"] == "ReconfigurationOfSecurityParameters" for e in csms.ledger.security_events
        ),
        "a security event",
    )


# --- OCPP-J frames -----------------------------------------------------------------------------

# PublishFirmware is for a Local Controller that serves firmware to its stations (L03);
# a charging station has nothing to publish.
PUBLISH_FIRMWARE = '{"location":"http://127.0.0.1/fw.bin","checksum":"0123456789abcdef","requestId":1}'


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"x1","NoSuchAction",{}]', "NotImplemented"),
        (f'[2,"x2","PublishFirmware",{PUBLISH_FIRMWARE}]', "NotSupported"),
        ('[2,"x3","Reset",{}]', "OccurrenceConstraintViolation"),
        ('[2,"x4","UnlockConnector",{"evseId":"1","connectorId":1}]', "TypeConstraintViolation"),
        ('[2,"x5","Reset",{"type":"Warm"}]', "PropertyConstraintViolation"),
        ('[2,"x6","Reset",{"type":"Immediate","colour":"red"}]', "FormatViolation"),
        ('[2,"x7","Reset"]', "RpcFrameworkError"),
        ('[7,"x8","Reset",{}]', "MessageTypeNotSupported"),
    ],
    ids=[
        "unknown-action",
        "unsupported-action",
        "missing-field",
        "wrong-type",
        "bad-enum",
        "extra-field",
        "no-payload",
        "unknown-message-type",
    ],
)
async def test_bad_frames_are_answered_with_the_2_0_1_callerror(
    csms: Csms201, station: Station201, frame: str, code: str
):
    await station.start()
    unique_id = frame.split('"')[1]
    reply = await csms.send_raw(STATION_ID, frame, timeout=3)
    assert reply is not None, "no answer"
    assert reply[:3] == [4, unique_id, code], reply
    assert len(reply) == 5 and isinstance(reply[3], str) and isinstance(reply[4], dict)
    answer = await get_variable(csms, component("OCPPCommCtrlr"), "HeartbeatInterval")
    assert answer["attributeValue"] == "300"  # and it still serves


async def test_a_frame_that_is_not_json_is_dropped(csms: Csms201, station: Station201):
    await station.start()
    assert await csms.send_raw(STATION_ID, "this is {not JSON", timeout=0.3) is None
    answer = await get_variable(csms, component("OCPPCommCtrlr"), "HeartbeatInterval")
    assert answer["attributeStatus"] == "Accepted"
    assert [e.kind for e in csms.ledger.entries].count("connect") == 1


# --- the tools ---------------------------------------------------------------------------------


async def test_dev_csms_serves_2_0_1():
    script = Path(__file__).resolve().parents[2] / "scripts" / "dev-csms"
    with subprocess.Popen(
        [sys.executable, str(script), "--ocpp", "2.0.1", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        try:
            line = await asyncio.to_thread(proc.stderr.readline)  # type: ignore[union-attr]
            url = line.split("CSMS listening on ")[1].split()[0]
            async with connect(f"{url}/CP-X", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "ocpp2.0.1"
                boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
                await ws.send(json.dumps([2, "b1", "BootNotification", boot]))
                answer = json.loads(await ws.recv())
                assert answer[:2] == [3, "b1"] and answer[2]["status"] == "Accepted"
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


async def test_demo_plays_a_2_0_1_session(monkeypatch, capsys):
    monkeypatch.setattr(demo, "CHARGE_S", 1)
    assert await demo.run_demo("2.0.1") == 0
    out = capsys.readouterr().out
    assert "OCPP 2.0.1" in out
    assert "TransactionEvent             Started #0 (Authorized)" in out
    assert "Ended" in out and "reason Local" in out
    assert "no problems" in out
