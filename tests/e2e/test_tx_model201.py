"""OCPP 2.0.1 transaction model end to end: TxStartPoint / TxStopPoint, EVConnectionTimeOut,
free charging (AuthCtrlr.Enabled false), the parking bay sensor and per-EVSE Reset, with the
real daemon on simulated hardware against the strict 2.0.1 CSMS."""

from __future__ import annotations

from devcsms import Csms201

from .conftest import STATION_ID, calls, wait_until
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures


def token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "ISO14443"}


async def test_a_transaction_starts_at_plug_in_and_is_authorized_by_the_card_later(
    csms: Csms201, station: Station201
):
    station.set_ocpp("TxCtrlr", "TxStartPoint", "EVConnected")
    await station.start()
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started", chargingState="EVConnected")
    assert started.payload["triggerReason"] == "CablePluggedIn"
    assert "idToken" not in started.payload  # nobody is authorized yet
    assert (await station.connector(1))["offered_a"] == 0  # no energy before authorization
    tx_id = started.payload["transactionInfo"]["transactionId"]
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    authorized = await wait_tx_event(csms, "Updated", after=after, transactionId=tx_id)
    assert authorized.payload["triggerReason"] == "Authorized"
    assert authorized.payload["idToken"]["idToken"] == "TAG1"
    await wait_tx_event(csms, "Updated", after=after, transactionId=tx_id, chargingState="Charging")


async def test_a_remote_start_after_plug_in_answers_with_the_running_transaction(
    csms: Csms201, station: Station201
):
    station.set_ocpp("TxCtrlr", "TxStartPoint", "EVConnected")
    await station.start()
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started")
    tx_id = started.payload["transactionInfo"]["transactionId"]
    after = len(csms.ledger.entries)
    request = {"idToken": token("REMOTE2"), "remoteStartId": 42, "evseId": 1}
    answer = await csms.call(STATION_ID, "RequestStartTransaction", request)
    assert answer == {"status": "Accepted", "transactionId": tx_id}
    authorized = await wait_tx_event(csms, "Updated", after=after, remoteStartId=42)
    assert authorized.payload["triggerReason"] == "RemoteStart"
    assert authorized.payload["idToken"]["idToken"] == "REMOTE2"
    await station.wait_status(1, "Charging")


async def test_remote_start_first_is_a_started_event_at_once_and_times_out_without_an_ev(
    csms: Csms201, station: Station201
):
    station.set_ocpp("TxCtrlr", "TxStartPoint", "Authorized")
    station.set_ocpp("TxCtrlr", "EVConnectionTimeOut", 2)
    station.set_ocpp("AuthCtrlr", "AuthorizeRemoteStart", False)
    await station.start()
    request = {"idToken": token("REMOTE1"), "remoteStartId": 41, "evseId": 1}
    answer = await csms.call(STATION_ID, "RequestStartTransaction", request)
    assert answer["status"] == "Accepted"
    started = await wait_tx_event(csms, "Started", remoteStartId=41)
    assert started.payload["triggerReason"] == "RemoteStart"
    assert started.payload["transactionInfo"]["chargingState"] == "Idle"  # no EV yet
    assert answer["transactionId"] == started.payload["transactionInfo"]["transactionId"]
    ended = await wait_tx_event(csms, "Ended", transactionId=answer["transactionId"])
    assert ended.payload["triggerReason"] == "EVConnectTimeout"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Timeout"


async def test_the_parking_bay_starts_and_ends_the_transaction(
    csms: Csms201, station: Station201
):
    station.set_ocpp("TxCtrlr", "TxStartPoint", "ParkingBayOccupancy")
    station.set_ocpp("TxCtrlr", "TxStopPoint", "ParkingBayOccupancy")
    await station.start()  # StopTxOnEVSideDisconnect true: unplugging deauthorizes
    await station.sim("bay", "1", "occupied")
    started = await wait_tx_event(csms, "Started")
    assert started.payload["triggerReason"] == "EVDetected"
    tx_id = started.payload["transactionInfo"]["transactionId"]
    await station.sim("plug", "1")
    await station.sim("tag", "TAG1")
    await station.wait_status(1, "Charging")
    after = len(csms.ledger.entries)
    await station.sim("unplug", "1")  # the bay, not the cable, ends it
    left = await wait_tx_event(csms, "Updated", after=after, chargingState="Idle")
    assert left.payload["triggerReason"] == "EVCommunicationLost"
    assert (await station.connector(1))["transaction"] is not None
    await station.sim("bay", "1", "free")
    ended = await wait_tx_event(csms, "Ended", transactionId=tx_id)
    assert ended.payload["triggerReason"] == "EVDeparted"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    ended_events = [e for e in calls(csms, "TransactionEvent") if e.payload["eventType"] == "Ended"]
    assert len(ended_events) == 1


async def test_a_card_ends_the_authorization_and_the_unplug_ends_the_transaction(
    csms: Csms201, station: Station201
):
    station.set_ocpp("TxCtrlr", "TxStopPoint", "EVConnected")
    await station.start()
    tx_id = await station.start_session(1)
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    stopped = await wait_tx_event(csms, "Updated", after=after, transactionId=tx_id)
    assert stopped.payload["triggerReason"] == "StopAuthorized"
    assert stopped.payload["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert (await station.connector(1))["transaction"] is not None
    await station.sim("unplug", "1")
    ended = await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    assert ended.payload["triggerReason"] == "EVCommunicationLost"
    assert ended.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"


async def test_energy_transfer_as_stop_point_ends_when_the_ev_stops_drawing(
    csms: Csms201, station: Station201
):
    station.set_ocpp("TxCtrlr", "TxStopPoint", "EnergyTransfer")
    await station.start()
    tx_id = await station.start_session(1)
    after = len(csms.ledger.entries)
    await station.sim("ev-pause", "1")
    ended = await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "StoppedByEV"


async def test_free_charging_starts_at_plug_in_with_no_authorization(
    csms: Csms201, station: Station201
):
    station.set_ocpp("AuthCtrlr", "Enabled", False)
    await station.start()
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started")
    assert started.payload["idToken"] == {"idToken": "", "type": "NoAuthorization"}
    assert started.payload["triggerReason"] == "CablePluggedIn"
    await station.wait_status(1, "Charging")
    assert not calls(csms, "Authorize")
    tx_id = started.payload["transactionInfo"]["transactionId"]
    await station.sim("unplug", "1")
    ended = await wait_tx_event(csms, "Ended", transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "EVDisconnected"


async def test_reset_of_one_evse_ends_its_transaction_and_the_station_stays_up(
    csms: Csms201, station: Station201
):
    await station.start()
    tx_id = await station.start_session(1)
    after = len(csms.ledger.entries)
    answer = await csms.call(STATION_ID, "Reset", {"type": "Immediate", "evseId": 1})
    assert answer == {"status": "Accepted"}
    ended = await wait_tx_event(csms, "Ended", after=after, transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert ended.payload["triggerReason"] == "ResetCommand"
    assert not calls(csms, "BootNotification", after)  # not a reboot of the station
    unknown = await csms.call(STATION_ID, "Reset", {"type": "Immediate", "evseId": 9})
    assert unknown["status"] == "Rejected"


async def test_reset_on_idle_of_one_evse_waits_for_its_transaction(
    csms: Csms201, station: Station201
):
    await station.start()
    tx_id = await station.start_session(2)
    answer = await csms.call(STATION_ID, "Reset", {"type": "OnIdle", "evseId": 2})
    assert answer == {"status": "Scheduled"}
    idle = await csms.call(STATION_ID, "Reset", {"type": "OnIdle", "evseId": 1})
    assert idle == {"status": "Accepted"}
    await station.sim("tag", "TAG1")
    ended = await wait_tx_event(csms, "Ended", transactionId=tx_id)
    assert ended.payload["transactionInfo"]["stoppedReason"] == "Local"
    await wait_until(lambda: station.running, "the station still runs")
