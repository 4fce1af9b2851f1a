"""OCPP 2.0.1 Reservation (H01-H04) end to end, against the strict 2.0.1 CSMS."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from devcsms import Csms201

from .conftest import STATION_ID, wait_call
from .conftest201 import Station201, csms, station, wait_tx_event

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


def expiry(seconds: float = 3600) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat().replace("+00:00", "Z")


def token(tag: str) -> dict:
    return {"idToken": tag, "type": "ISO14443"}


async def reserve(csms: Csms201, rid: int = 7, tag: str = "ALICE", **more) -> dict:
    payload = {"id": rid, "expiryDateTime": more.pop("expiry", expiry()), "idToken": token(tag)}
    return await csms.call(STATION_ID, "ReserveNow", {**payload, **more})


async def test_an_evse_reservation_reports_reserved_and_its_token_starts_with_it(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    assert (await reserve(csms, evseId=1))["status"] == "Accepted"
    await wait_call(csms, "StatusNotification", after=mark, evseId=1, connectorStatus="Reserved")
    assert (await reserve(csms, 8, "BOB", evseId=1))["status"] == "Occupied"
    await station.sim("plug", "1")
    await station.sim("tag", "ALICE", "--connector", "1")
    started = await wait_tx_event(csms, "Started", after=mark)
    assert started.payload["reservationId"] == 7
    assert started.payload["idToken"]["idToken"] == "ALICE"


async def test_a_request_start_for_another_token_on_a_reserved_evse_is_rejected(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    assert (await reserve(csms, evseId=1))["status"] == "Accepted"
    other = {"idToken": token("MALLORY"), "remoteStartId": 1, "evseId": 1}
    answer = await csms.call(STATION_ID, "RequestStartTransaction", other)
    assert answer["status"] == "Rejected"
    mine = {"idToken": token("ALICE"), "remoteStartId": 2, "evseId": 1}
    answer = await csms.call(STATION_ID, "RequestStartTransaction", mine)
    assert answer["status"] == "Accepted"
    await station.sim("plug", "1")
    started = await wait_tx_event(csms, "Started", after=mark)
    assert started.payload["reservationId"] == 7
    assert started.payload["transactionInfo"]["remoteStartId"] == 2


async def test_a_reservation_without_evse_keeps_the_last_free_one(
    csms: Csms201, station: Station201
):
    await station.start()
    assert (await reserve(csms))["status"] == "Accepted"
    await station.start_session(1, "TAG1")
    await station.wait_status(2, "Reserved")
    assert (await reserve(csms, 8, "BOB"))["status"] == "Occupied"


async def test_a_connector_type_reservation_counts_only_evses_of_that_type(
    csms: Csms201, station: Station201
):
    await station.start()
    answer = await reserve(csms, connectorType="cCCS2")  # the simulated AC station has none
    assert answer["status"] == "Rejected"
    assert (await reserve(csms, connectorType="cType2"))["status"] == "Accepted"


async def test_non_evse_specific_off_rejects_a_reservation_without_evse(
    csms: Csms201, station: Station201
):
    station.set_ocpp("ReservationCtrlr", "NonEvseSpecific", False)
    await station.start()
    assert (await reserve(csms))["status"] == "Rejected"
    assert (await reserve(csms, evseId=2))["status"] == "Accepted"


async def test_expiry_sends_reservation_status_update_expired(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    assert (await reserve(csms, evseId=1, expiry=expiry(2)))["status"] == "Accepted"
    update = await wait_call(csms, "ReservationStatusUpdate", after=mark)
    assert update.payload == {"reservationId": 7, "reservationUpdateStatus": "Expired"}
    await station.wait_status(1, "Available")


async def test_a_fault_removes_the_reservation_with_status_update_removed(
    csms: Csms201, station: Station201
):
    mark = await station.start()
    assert (await reserve(csms, evseId=2))["status"] == "Accepted"
    await station.sim("fault", "2", "GroundFailure")
    update = await wait_call(csms, "ReservationStatusUpdate", after=mark)
    assert update.payload == {"reservationId": 7, "reservationUpdateStatus": "Removed"}
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer["status"] == "Rejected"


async def test_cancel_frees_the_evse_and_a_reservation_survives_a_restart(
    csms: Csms201, station: Station201
):
    await station.start()
    assert (await reserve(csms, evseId=2))["status"] == "Accepted"
    assert (await reserve(csms, 8, "BOB", evseId=1))["status"] == "Accepted"
    await station.restart()
    await station.wait_status(2, "Reserved")
    await station.wait_status(1, "Reserved")
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer["status"] == "Accepted"
    await station.wait_status(2, "Available")


async def test_reservation_ctrlr_variables_are_reported(csms: Csms201, station: Station201):
    await station.start()
    names = ("Enabled", "Available", "NonEvseSpecific")
    request = {
        "getVariableData": [
            {"component": {"name": "ReservationCtrlr"}, "variable": {"name": n}} for n in names
        ]
    }
    answer = await csms.call(STATION_ID, "GetVariables", request)
    values = {r["variable"]["name"]: r.get("attributeValue") for r in answer["getVariableResult"]}
    assert values == {"Enabled": "true", "Available": "true", "NonEvseSpecific": "true"}
