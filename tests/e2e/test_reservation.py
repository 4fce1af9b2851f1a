"""OCPP 1.6 Reservation profile: ReserveNow, CancelReservation, expiry, status Reserved."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from devcsms import Csms

from .conftest import STATION_ID, Station, wait_call


def expiry(seconds: float = 3600) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat().replace("+00:00", "Z")


async def reserve(csms: Csms, connector: int, tag: str = "ALICE", rid: int = 7, **more) -> str:
    payload = {
        "connectorId": connector,
        "expiryDate": more.pop("expiry", expiry()),
        "idTag": tag,
        "reservationId": rid,
        **more,
    }
    return (await csms.call(STATION_ID, "ReserveNow", payload))["status"]


async def test_reserved_connector_reports_reserved_and_the_tag_starts_with_the_reservation_id(
    csms: Csms, station: Station
):
    await station.start()
    after = len(csms.ledger.entries)
    assert await reserve(csms, 1) == "Accepted"
    await wait_call(csms, "StatusNotification", after=after, connectorId=1, status="Reserved")
    await station.sim("plug", "1")
    await station.sim("tag", "ALICE", "--connector", "1")
    start = await wait_call(csms, "StartTransaction", after=after, connectorId=1)
    assert start.payload["idTag"] == "ALICE"
    assert start.payload["reservationId"] == 7
    # the reservation is used up: cancelling it now finds nothing
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer == {"status": "Rejected"}


async def test_another_tag_does_not_start_on_the_reserved_connector(csms: Csms, station: Station):
    await station.start()
    assert await reserve(csms, 1) == "Accepted"
    await station.wait_status(1, "Reserved")
    after = len(csms.ledger.entries)
    await station.sim("plug", "1")
    await station.sim("tag", "MALLORY", "--connector", "1")
    await station.wait_status(1, "Preparing")
    assert not [e for e in csms.ledger.entries[after:] if e.action == "StartTransaction"]
    await station.sim("unplug", "1")
    await station.wait_status(1, "Reserved")


async def test_answers_occupied_faulted_unavailable_as_the_connector_is(
    csms: Csms, station: Station
):
    await station.start()
    await station.start_session(1, "TAG1")
    assert await reserve(csms, 1) == "Occupied"
    await station.sim("fault", "2", "GroundFailure")
    await station.wait_status(2, "Faulted")
    assert await reserve(csms, 2) == "Faulted"
    await station.sim("clear", "2")
    await station.wait_status(2, "Available")
    answer = await csms.call(
        STATION_ID, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}
    )
    assert answer == {"status": "Accepted"}
    assert await reserve(csms, 2) == "Unavailable"


async def test_cancel_returns_the_connector_to_available(csms: Csms, station: Station):
    await station.start()
    assert await reserve(csms, 2) == "Accepted"
    reserved = await wait_call(csms, "StatusNotification", connectorId=2, status="Reserved")
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer == {"status": "Accepted"}
    await wait_call(csms, "StatusNotification", after=reserved.index, connectorId=2,
                    status="Available")  # fmt: skip
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer == {"status": "Rejected"}


async def test_a_reservation_expires_and_the_connector_is_available_again(
    csms: Csms, station: Station
):
    await station.start()
    assert await reserve(csms, 1, expiry=expiry(2)) == "Accepted"
    reserved = await wait_call(csms, "StatusNotification", connectorId=1, status="Reserved")
    await wait_call(csms, "StatusNotification", after=reserved.index, connectorId=1,
                    status="Available")  # fmt: skip


async def test_connector_zero_keeps_the_last_free_connector_for_the_tag(
    csms: Csms, station: Station
):
    await station.start()
    assert await reserve(csms, 0) == "Accepted"
    await station.start_session(1, "TAG1")
    await station.wait_status(2, "Reserved")
    assert await reserve(csms, 0, rid=8) == "Occupied"  # nothing left for a second one
    after = len(csms.ledger.entries)
    await station.sim("plug", "2")
    await station.sim("tag", "ALICE", "--connector", "2")
    start = await wait_call(csms, "StartTransaction", after=after, connectorId=2)
    assert start.payload["reservationId"] == 7


async def test_a_fault_drops_the_reservation(csms: Csms, station: Station):
    await station.start()
    assert await reserve(csms, 1) == "Accepted"
    await station.wait_status(1, "Reserved")
    await station.sim("fault", "1", "GroundFailure")
    await station.wait_status(1, "Faulted")
    await station.sim("clear", "1")
    await station.wait_status(1, "Available")
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer == {"status": "Rejected"}


async def test_a_reservation_survives_a_restart(csms: Csms, station: Station):
    await station.start()
    assert await reserve(csms, 2) == "Accepted"
    await station.wait_status(2, "Reserved")
    await station.restart()
    await station.wait_status(2, "Reserved")
    answer = await csms.call(STATION_ID, "CancelReservation", {"reservationId": 7})
    assert answer == {"status": "Accepted"}


async def test_supported_feature_profiles_lists_reservation(csms: Csms, station: Station):
    await station.start()
    answer = await csms.call(
        STATION_ID,
        "GetConfiguration",
        {"key": ["SupportedFeatureProfiles", "ReserveConnectorZeroSupported"]},
    )
    values = {k["key"]: k["value"] for k in answer["configurationKey"]}
    assert "Reservation" in values["SupportedFeatureProfiles"].split(",")
    assert values["ReserveConnectorZeroSupported"] == "true"
