"""Reservation rules of the station core (chargerd.core.reservations), fed events with `now`."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from chargerd.core.model import (
    AuthInfo,
    AuthorizationRejected,
    AuthStatus,
    CoreSettings,
    RefusedBy,
    RequestAuthorization,
    Reservation,
    ReservationEnd,
    ReservationEnded,
    ReservationMade,
    ReserveStatus,
    StatusChanged,
    TransactionStarted,
)
from chargerd.core.station import ConnectorSpec, Station
from chargerd.store import Store
from hal.interfaces import FaultCleared, FaultCode, FaultRaised, PilotChanged, PilotState

T0 = 1_700_000_000.0
HOUR = 3600.0
A, B, C = PilotState.A, PilotState.B, PilotState.C
ACCEPTED = AuthInfo(AuthStatus.Accepted)


def make_station(connectors: int = 2, reservations: tuple = (), **settings: Any) -> Station:
    ids = (f"tx-{n}" for n in itertools.count(1))
    station = Station(
        [ConnectorSpec(n, 32, 3) for n in range(1, connectors + 1)],
        CoreSettings(**settings),
        reservations=reservations,
        new_transaction_id=lambda: next(ids),
    )
    station.link_changed(True)
    station.take()
    return station


def of_type(decisions: list[Any], kind: type) -> list[Any]:
    return [d for d in decisions if isinstance(d, kind)]


def status(station: Station, connector: int = 1) -> str:
    return str(station.connectors[connector].status)


def reservation(rid: int = 7, tag: str = "ALICE", connector: int | None = 1, **kw: Any):
    return Reservation(rid, tag, T0 + HOUR, connector, **kw)


def present(station: Station, tag: str, connector: int | None, now: float = T0 + 1,
            info: AuthInfo = ACCEPTED) -> list[Any]:  # fmt: skip
    """A card at the reader, answered by the CSMS with `info`."""
    station.tag_presented(tag, connector, now)
    if of_type(station.take(), RequestAuthorization):
        station.authorization_answered(tag, info, now)
    return station.take()


def plug(station: Station, connector: int, now: float = T0 + 2) -> list[Any]:
    station.hardware_event(PilotChanged(connector, B), now)
    return station.take()


# --- the answers -----------------------------------------------------------------------------


def test_a_free_connector_is_reserved_and_shows_reserved() -> None:
    station = make_station()
    assert station.reserve(reservation(), T0) is ReserveStatus.Accepted
    decisions = station.take()
    assert of_type(decisions, ReservationMade) == [ReservationMade(reservation())]
    assert of_type(decisions, StatusChanged)[0].new == "Reserved"
    assert status(station, 1) == "Reserved" and status(station, 2) == "Available"


def test_a_faulted_connector_answers_faulted() -> None:
    station = make_station()
    station.hardware_event(FaultRaised(1, FaultCode.GroundFailure, "leak"), T0)
    assert station.reserve(reservation(), T0) is ReserveStatus.Faulted


def test_an_unavailable_connector_answers_unavailable() -> None:
    station = make_station()
    station.change_availability(1, False, T0)
    assert station.reserve(reservation(), T0) is ReserveStatus.Unavailable


def test_a_connector_in_use_or_reserved_for_another_answers_occupied() -> None:
    station = make_station()
    plug(station, 1)
    assert station.reserve(reservation(), T0) is ReserveStatus.Occupied
    assert station.reserve(reservation(8, "BOB", 2), T0) is ReserveStatus.Accepted
    assert station.reserve(reservation(9, "CAROL", 2), T0) is ReserveStatus.Occupied


def test_reservations_disabled_or_an_unknown_connector_answer_rejected() -> None:
    assert make_station(reservations_enabled=False).reserve(reservation(), T0) == "Rejected"
    assert make_station().reserve(reservation(connector=5), T0) is ReserveStatus.Rejected


def test_a_reservation_for_any_connector_is_rejected_when_not_supported() -> None:
    station = make_station(reserve_any_connector=False)
    assert station.reserve(reservation(connector=None), T0) is ReserveStatus.Rejected


def test_the_same_id_replaces_the_reservation() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    assert station.reserve(reservation(connector=2), T0) is ReserveStatus.Accepted
    assert status(station, 1) == "Available" and status(station, 2) == "Reserved"
    assert list(station.reservations) == [7]


def test_cancel_frees_the_connector_and_an_unknown_id_is_refused() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    station.take()
    assert station.cancel_reservation(7, T0) is True
    ended = of_type(station.take(), ReservationEnded)
    assert ended == [ReservationEnded(reservation(), ReservationEnd.Cancelled)]
    assert status(station) == "Available"
    assert station.cancel_reservation(7, T0) is False


# --- expiry, faults, availability ----------------------------------------------------------------


def test_a_reservation_expires_at_its_expiry_time() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    station.tick(T0 + HOUR - 1)
    assert status(station) == "Reserved"
    station.take()
    station.tick(T0 + HOUR)
    assert of_type(station.take(), ReservationEnded)[0].why is ReservationEnd.Expired
    assert status(station) == "Available"


def test_a_fault_removes_the_reservation_of_its_connector() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    station.take()
    station.hardware_event(FaultRaised(1, FaultCode.GroundFailure, "leak"), T0 + 1)
    assert of_type(station.take(), ReservationEnded)[0].why is ReservationEnd.Removed
    station.hardware_event(FaultCleared(1, FaultCode.GroundFailure), T0 + 2)
    assert status(station) == "Available"


def test_making_the_connector_unavailable_removes_its_reservation() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    station.take()
    station.change_availability(0, False, T0 + 1)
    assert of_type(station.take(), ReservationEnded)[0].why is ReservationEnd.Removed
    assert station.reservations == {}


# --- using a reservation -----------------------------------------------------------------------


def test_the_reserved_tag_starts_with_the_reservation_and_ends_it() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    present(station, "ALICE", 1)
    decisions = plug(station, 1)
    started = of_type(decisions, TransactionStarted)[0].transaction
    assert started.reservation_id == 7
    assert of_type(decisions, ReservationEnded) == [
        ReservationEnded(reservation(), ReservationEnd.Used)
    ]
    assert station.reservations == {}


def test_another_tag_is_refused_at_the_reserved_connector() -> None:
    station = make_station()
    station.reserve(reservation(), T0)
    plug(station, 1)
    decisions = present(station, "MALLORY", 1)
    assert of_type(decisions, AuthorizationRejected) == [
        AuthorizationRejected("MALLORY", "Reserved", RefusedBy.RESERVED)
    ]
    assert station.transactions() == []
    assert 7 in station.reservations


def test_a_tag_of_the_reservations_group_uses_it() -> None:
    station = make_station()
    station.reserve(reservation(parent_id="FAMILY"), T0)
    present(station, "BOB", 1, info=AuthInfo(AuthStatus.Accepted, parent_id="FAMILY"))
    started = of_type(plug(station, 1), TransactionStarted)[0].transaction
    assert started.id_tag == "BOB" and started.reservation_id == 7


def test_a_tag_of_another_group_is_refused() -> None:
    station = make_station()
    station.reserve(reservation(parent_id="FAMILY"), T0)
    decisions = present(station, "EVE", 1, info=AuthInfo(AuthStatus.Accepted, parent_id="OTHER"))
    assert of_type(decisions, AuthorizationRejected)[0].by is RefusedBy.RESERVED


def test_the_reserved_tag_at_a_shared_reader_goes_to_its_reserved_connector() -> None:
    station = make_station()
    station.reserve(reservation(connector=2), T0)
    present(station, "ALICE", None)
    assert status(station, 2) == "Preparing"
    assert of_type(plug(station, 2), TransactionStarted)[0].transaction.reservation_id == 7


def test_a_remote_start_for_another_tag_on_the_reserved_connector_is_rejected() -> None:
    station = make_station(authorize_remote_start=False)
    station.reserve(reservation(), T0)
    assert station.remote_start("MALLORY", 1, T0) is False
    assert station.remote_start("ALICE", 1, T0) is True
    started = of_type(plug(station, 1), TransactionStarted)[0].transaction
    assert started.reservation_id == 7


def test_a_remote_start_without_connector_skips_a_connector_reserved_for_another() -> None:
    station = make_station(authorize_remote_start=False)
    station.reserve(reservation(), T0)
    assert station.remote_start("MALLORY", None, T0) is True
    assert status(station, 2) == "Preparing" and status(station, 1) == "Reserved"


# --- reservations for any connector ----------------------------------------------------------


def test_a_reservation_for_any_connector_keeps_one_free_connector() -> None:
    station = make_station()
    assert station.reserve(reservation(connector=None), T0) is ReserveStatus.Accepted
    # two free for one reservation: nobody is turned away, nothing shows Reserved
    assert status(station, 1) == "Available" and status(station, 2) == "Available"
    present(station, "MALLORY", 1)
    plug(station, 1)
    assert status(station, 2) == "Reserved"  # the last free one is kept
    assert of_type(present(station, "EVE", 2), AuthorizationRejected)[0].by is RefusedBy.RESERVED


def test_no_second_reservation_for_any_connector_when_only_one_is_free() -> None:
    station = make_station()
    plug(station, 1)
    assert station.reserve(reservation(connector=None), T0) is ReserveStatus.Accepted
    assert station.reserve(reservation(8, "BOB", None), T0) is ReserveStatus.Occupied
    assert station.reserve(reservation(9, "BOB", 2), T0) is ReserveStatus.Occupied


def test_a_reservation_for_any_connector_counts_only_the_connectors_that_fit() -> None:
    station = make_station(connectors=3)
    fits = frozenset({2, 3})
    assert station.reserve(reservation(connector=None, fits=fits), T0) == "Accepted"
    assert station.reserve(reservation(8, "BOB", None, fits=fits), T0) == "Accepted"
    assert status(station, 1) == "Available"
    assert status(station, 2) == "Reserved" and status(station, 3) == "Reserved"
    assert station.reserve(reservation(9, "CAROL", None, fits=frozenset({9})), T0) == "Rejected"


def test_all_fitting_connectors_faulted_answers_faulted() -> None:
    station = make_station(connectors=1)
    station.hardware_event(FaultRaised(1, FaultCode.GroundFailure, "leak"), T0)
    assert station.reserve(reservation(connector=None), T0) is ReserveStatus.Faulted


def test_the_tag_of_a_reservation_for_any_connector_uses_the_kept_connector() -> None:
    station = make_station(connectors=1)
    station.reserve(reservation(connector=None), T0)
    assert status(station) == "Reserved"
    present(station, "ALICE", 1)
    started = of_type(plug(station, 1), TransactionStarted)[0].transaction
    assert started.reservation_id == 7 and station.reservations == {}


# --- restart -----------------------------------------------------------------------------------


def test_a_reservation_survives_a_restart_through_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path)
    station = make_station()
    station.reserve(reservation(parent_id="FAMILY", connector=None, fits=frozenset({2})), T0)
    for d in of_type(station.take(), ReservationMade):
        store.save_reservation(d.reservation)
    store.close()

    store = Store(tmp_path)
    restored = store.reservations()
    assert restored == [reservation(parent_id="FAMILY", connector=None, fits=frozenset({2}))]
    again = make_station(reservations=restored)
    assert status(again, 2) == "Reserved"
    store.delete_reservation(7)
    assert store.reservations() == []


def test_an_ev_plugged_first_at_the_kept_connector_still_waits_for_the_reserved_tag() -> None:
    station = make_station(connectors=1)
    station.reserve(reservation(connector=None), T0)
    plug(station, 1)
    assert of_type(present(station, "EVE", 1), AuthorizationRejected)[0].by is RefusedBy.RESERVED
    started = of_type(present(station, "ALICE", 1), TransactionStarted)[0].transaction
    assert started.reservation_id == 7
