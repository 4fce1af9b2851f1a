"""The station core (chargerd.core.station), fed events with `now`; no network, no clock."""

from __future__ import annotations

import itertools
from typing import Any

from chargerd.core.model import (
    AuthInfo,
    AuthorizationRejected,
    AuthStatus,
    AvailabilityChanged,
    CacheAuthorization,
    CoreSettings,
    MeterSampled,
    OfferCurrent,
    RefusedBy,
    RequestAuthorization,
    SetLock,
    StatusChanged,
    StopReason,
    SwitchContactor,
    Transaction,
    TransactionEnded,
    TransactionStarted,
)
from chargerd.core.station import ConnectorSpec, Station
from hal.interfaces import (
    FaultCleared,
    FaultCode,
    FaultRaised,
    MeterReading,
    PilotChanged,
    PilotState,
    TagPresented,
)

T0 = 1_700_000_000.0
A, B, C, E = PilotState.A, PilotState.B, PilotState.C, PilotState.E
ACCEPTED = AuthInfo(AuthStatus.Accepted)


def make_station(**settings: Any) -> Station:
    """Two connectors (32 A and 16 A), online, transaction ids tx-1, tx-2, ..."""
    ids = (f"tx-{n}" for n in itertools.count(1))
    station = Station(
        [ConnectorSpec(1, 32, 3), ConnectorSpec(2, 16, 1)],
        CoreSettings(**settings),
        new_transaction_id=lambda: next(ids),
    )
    station.link_changed(True)
    return station


def station_with_cache(cache: dict[str, AuthInfo], **settings: Any) -> Station:
    """A station (offline until told otherwise) that already knows some id tags."""
    ids = (f"tx-{n}" for n in itertools.count(1))
    return Station(
        [ConnectorSpec(1, 32, 3), ConnectorSpec(2, 16, 1)],
        CoreSettings(**settings),
        auth_cache=cache,
        new_transaction_id=lambda: next(ids),
    )


def pilot(station: Station, connector: int, state: PilotState, now: float) -> None:
    station.hardware_event(PilotChanged(connector, state), now)


def of_type(decisions: list[Any], kind: type) -> list[Any]:
    return [d for d in decisions if isinstance(d, kind)]


def status(station: Station, connector: int = 1) -> str:
    return str(station.connectors[connector].status)


def charging(
    station: Station, *, tag: str = "TAG1", meter_wh: float = 1000.0, info: AuthInfo = ACCEPTED
) -> Transaction:
    """Connector 1: meter read, EV plugged, tag accepted online, EV drawing. Decisions taken."""
    station.meter_read(1, MeterReading(meter_wh), T0)
    pilot(station, 1, B, T0)
    station.tag_presented(tag, None, T0 + 1)
    station.authorization_answered(tag, info, T0 + 2)
    pilot(station, 1, C, T0 + 3)
    station.take()
    assert status(station) == "Charging"
    tx = station.connectors[1].transaction
    assert tx is not None
    return tx


# --- authorization and start -------------------------------------------------------------------


def test_plug_then_tag_online_asks_the_csms_and_starts_on_accepted() -> None:
    st = make_station()
    reading = MeterReading(1234.6)
    st.meter_read(1, reading, T0)
    pilot(st, 1, B, T0)
    assert st.take() == [StatusChanged(1, "Available", "Preparing", "NoError", T0)]

    st.tag_presented("TAG1", None, T0 + 1)
    assert st.take() == [RequestAuthorization("TAG1")]

    st.authorization_answered("TAG1", ACCEPTED, T0 + 2)
    tx = Transaction("tx-1", 1, "TAG1", 1235, T0 + 2, 1235, last_sample_at=T0 + 2)
    assert st.take() == [
        CacheAuthorization("TAG1", ACCEPTED),
        TransactionStarted(tx, reading, T0 + 2),
        SetLock(1, True),
        OfferCurrent(1, 32),
        StatusChanged(1, "Preparing", "SuspendedEV", "NoError", T0 + 2),
    ]


def test_the_ev_drawing_after_the_start_closes_the_contactor_and_charges() -> None:
    st = make_station()
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", None, T0 + 1)
    st.authorization_answered("TAG1", ACCEPTED, T0 + 2)
    st.take()

    pilot(st, 1, C, T0 + 3)
    assert st.take() == [
        SwitchContactor(1, True),
        StatusChanged(1, "SuspendedEV", "Charging", "NoError", T0 + 3),
    ]


def test_tag_then_plug_within_connection_timeout_starts() -> None:
    st = make_station(connection_timeout_s=60)
    st.tag_presented("TAG1", None, T0)
    st.authorization_answered("TAG1", ACCEPTED, T0 + 1)
    assert of_type(st.take(), TransactionStarted) == []

    st.tick(T0 + 30)
    pilot(st, 2, B, T0 + 50)
    started = of_type(st.take(), TransactionStarted)
    assert [(d.transaction.connector, d.transaction.id_tag) for d in started] == [(2, "TAG1")]
    assert status(st, 2) == "SuspendedEV"


def test_tag_for_a_connector_then_timeout_returns_it_to_available() -> None:
    st = make_station(connection_timeout_s=60)
    st.hardware_event(TagPresented("TAG1", 1), T0)
    st.authorization_answered("TAG1", ACCEPTED, T0 + 1)
    assert st.take()[-1] == StatusChanged(1, "Available", "Preparing", "NoError", T0 + 1)

    st.tick(T0 + 60)
    assert st.take() == []
    st.tick(T0 + 61)
    assert st.take() == [StatusChanged(1, "Preparing", "Available", "NoError", T0 + 61)]

    pilot(st, 1, B, T0 + 70)
    assert st.take() == [StatusChanged(1, "Available", "Preparing", "NoError", T0 + 70)]
    assert st.transactions() == []


def test_tag_for_any_connector_then_timeout_and_a_later_plug_does_not_start() -> None:
    st = make_station(connection_timeout_s=60)
    st.tag_presented("TAG1", None, T0)
    st.authorization_answered("TAG1", ACCEPTED, T0)
    st.tick(T0 + 61)
    st.take()

    pilot(st, 1, B, T0 + 62)
    assert of_type(st.take(), TransactionStarted) == []
    assert st.transactions() == []
    assert status(st) == "Preparing"


def test_blocked_answer_rejects_the_tag_and_starts_no_transaction() -> None:
    st = make_station()
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", None, T0)
    st.take()

    blocked = AuthInfo(AuthStatus.Blocked)
    st.authorization_answered("TAG1", blocked, T0 + 1)
    assert st.take() == [
        CacheAuthorization("TAG1", blocked),
        AuthorizationRejected("TAG1", "Blocked"),
    ]
    assert st.transactions() == []
    assert status(st) == "Preparing"


def test_the_same_tag_again_stops_with_reason_local_and_the_tag() -> None:
    st = make_station()
    tx = charging(st)
    st.meter_read(1, MeterReading(1500.2), T0 + 10)

    st.tag_presented("TAG1", None, T0 + 10)
    ended = of_type(st.take(), TransactionEnded)
    assert len(ended) == 1
    assert ended[0].transaction.id == tx.id
    assert (ended[0].reason, ended[0].id_tag, ended[0].meter_stop_wh) == (
        StopReason.Local,
        "TAG1",
        1500,
    )
    assert status(st) == "Finishing"


def test_a_new_tag_while_finishing_starts_a_new_transaction_through_preparing() -> None:
    st = make_station()
    charging(st)
    st.tag_presented("TAG1", None, T0 + 10)
    st.take()
    assert status(st) == "Finishing"

    st.tag_presented("TAG2", None, T0 + 20)
    st.authorization_answered("TAG2", ACCEPTED, T0 + 21)
    decisions = st.take()
    assert [d.transaction.id_tag for d in of_type(decisions, TransactionStarted)] == ["TAG2"]
    assert of_type(decisions, StatusChanged) == [
        StatusChanged(1, "Finishing", "Preparing", "NoError", T0 + 21),
        StatusChanged(1, "Preparing", "Charging", "NoError", T0 + 21),
    ]


def test_another_tag_does_not_stop_a_running_transaction() -> None:
    st = make_station()
    charging(st)
    st.tag_presented("OTHER", 1, T0 + 10)
    assert of_type(st.take(), TransactionEnded) == []
    assert st.connectors[1].transaction is not None


def test_local_pre_authorize_starts_a_cached_tag_without_asking_the_csms() -> None:
    st = station_with_cache({"TAG1": ACCEPTED}, local_pre_authorize=True)
    st.link_changed(True)
    pilot(st, 1, B, T0)
    st.take()

    st.tag_presented("TAG1", None, T0 + 1)
    decisions = st.take()
    assert of_type(decisions, RequestAuthorization) == []
    assert [d.transaction.id_tag for d in of_type(decisions, TransactionStarted)] == ["TAG1"]


def test_without_local_pre_authorize_a_cached_tag_is_still_asked_online() -> None:
    st = station_with_cache({"TAG1": ACCEPTED}, local_pre_authorize=False)
    st.link_changed(True)
    pilot(st, 1, B, T0)
    st.take()

    st.tag_presented("TAG1", None, T0 + 1)
    assert st.take() == [RequestAuthorization("TAG1")]


# --- a group of tags (OCPP 1.6 parentIdTag, 2.0.1 groupIdToken) ---------------------------------

IN_FLEET = AuthInfo(AuthStatus.Accepted, parent_id="FLEET")


def test_the_starting_tags_parent_is_kept_on_the_transaction() -> None:
    st = make_station()
    tx = charging(st, info=IN_FLEET)
    assert tx.parent_id == "FLEET"


def test_another_tag_of_the_same_group_stops_the_transaction_after_asking_the_csms() -> None:
    st = make_station()
    tx = charging(st, info=IN_FLEET)

    st.tag_presented("TAG2", None, T0 + 10)
    assert st.take() == [RequestAuthorization("TAG2")]
    st.authorization_answered("TAG2", AuthInfo(AuthStatus.Accepted, parent_id="fleet"), T0 + 11)
    decisions = st.take()
    ended = of_type(decisions, TransactionEnded)
    assert [(d.transaction.id, d.reason, d.id_tag) for d in ended] == [
        (tx.id, StopReason.Local, "TAG2")
    ]
    assert of_type(decisions, TransactionStarted | AuthorizationRejected) == []
    assert status(st) == "Finishing"


def test_the_group_stop_works_at_the_connectors_own_reader_too() -> None:
    st = make_station()
    charging(st, info=IN_FLEET)
    st.tag_presented("TAG2", 1, T0 + 10)
    st.authorization_answered("TAG2", IN_FLEET, T0 + 11)
    assert [d.id_tag for d in of_type(st.take(), TransactionEnded)] == ["TAG2"]


def test_a_tag_of_another_group_does_not_stop_the_transaction() -> None:
    st = make_station()
    charging(st, info=IN_FLEET)
    st.tag_presented("TAG2", 1, T0 + 10)
    st.authorization_answered("TAG2", AuthInfo(AuthStatus.Accepted, parent_id="OTHER"), T0 + 11)
    decisions = st.take()
    assert of_type(decisions, TransactionEnded) == []
    assert of_type(decisions, AuthorizationRejected) == [
        AuthorizationRejected("TAG2", "ConnectorNotReady", RefusedBy.NO_CONNECTOR)
    ]
    assert status(st) == "Charging"


def test_a_refused_tag_of_the_same_group_does_not_stop_the_transaction() -> None:
    st = make_station()
    charging(st, info=IN_FLEET)
    st.tag_presented("TAG2", None, T0 + 10)
    st.authorization_answered("TAG2", AuthInfo(AuthStatus.Blocked, parent_id="FLEET"), T0 + 11)
    decisions = st.take()
    assert of_type(decisions, TransactionEnded) == []
    assert of_type(decisions, AuthorizationRejected) == [AuthorizationRejected("TAG2", "Blocked")]


def test_a_tag_at_another_connectors_reader_does_not_stop_the_transaction() -> None:
    st = make_station()
    charging(st, info=IN_FLEET)
    st.tag_presented("TAG2", 2, T0 + 10)
    st.authorization_answered("TAG2", IN_FLEET, T0 + 11)
    assert of_type(st.take(), TransactionEnded) == []
    assert st.connectors[1].transaction is not None


def test_without_the_starting_tags_parent_no_other_tag_stops_the_transaction() -> None:
    st = make_station()
    charging(st, info=ACCEPTED)
    st.tag_presented("TAG2", 1, T0 + 10)
    st.authorization_answered("TAG2", IN_FLEET, T0 + 11)
    assert of_type(st.take(), TransactionEnded) == []


def test_a_cached_tag_of_the_same_group_stops_at_once_with_local_pre_authorize() -> None:
    st = station_with_cache({"TAG2": IN_FLEET}, local_pre_authorize=True)
    st.link_changed(True)
    tx = charging(st, info=IN_FLEET)
    st.tag_presented("TAG2", None, T0 + 10)
    decisions = st.take()
    assert of_type(decisions, RequestAuthorization) == []
    assert [(d.transaction.id, d.id_tag) for d in of_type(decisions, TransactionEnded)] == [
        (tx.id, "TAG2")
    ]


def test_online_a_tag_cached_without_its_group_is_asked_even_with_local_pre_authorize() -> None:
    st = station_with_cache({"TAG2": ACCEPTED}, local_pre_authorize=True)
    st.link_changed(True)
    charging(st, info=IN_FLEET)
    st.tag_presented("TAG2", None, T0 + 10)
    assert st.take() == [RequestAuthorization("TAG2")]
    st.authorization_answered("TAG2", IN_FLEET, T0 + 11)
    assert [d.id_tag for d in of_type(st.take(), TransactionEnded)] == ["TAG2"]


def test_offline_a_cached_tag_of_the_same_group_stops_the_transaction() -> None:
    st = station_with_cache({"TAG2": IN_FLEET}, local_authorize_offline=True)
    st.link_changed(True)
    tx = charging(st, info=IN_FLEET)
    st.link_changed(False)
    st.tag_presented("TAG2", None, T0 + 10)
    decisions = st.take()
    assert of_type(decisions, RequestAuthorization) == []
    assert [(d.transaction.id, d.id_tag) for d in of_type(decisions, TransactionEnded)] == [
        (tx.id, "TAG2")
    ]


def test_the_group_from_the_start_confirmation_serves_an_unauthorized_remote_start() -> None:
    st = make_station(authorize_remote_start=False)
    pilot(st, 1, B, T0)
    st.remote_start("APP-USER", 1, T0)
    (started,) = of_type(st.take(), TransactionStarted)
    assert started.transaction.parent_id is None

    st.transaction_confirmed(started.transaction.id, IN_FLEET, T0 + 1)
    st.tag_presented("TAG2", None, T0 + 10)
    st.authorization_answered("TAG2", IN_FLEET, T0 + 11)
    assert [d.id_tag for d in of_type(st.take(), TransactionEnded)] == ["TAG2"]


def test_a_remote_start_of_a_tag_of_the_same_group_starts_rather_than_stops() -> None:
    st = make_station()
    charging(st, info=IN_FLEET)
    pilot(st, 2, B, T0 + 5)
    st.take()
    assert st.remote_start("TAG2", 2, T0 + 10) is True
    st.authorization_answered("TAG2", IN_FLEET, T0 + 11)
    decisions = st.take()
    assert of_type(decisions, TransactionEnded) == []
    assert [d.transaction.connector for d in of_type(decisions, TransactionStarted)] == [2]


# --- offline authorization ---------------------------------------------------------------------


def test_offline_with_local_authorize_offline_a_cached_accepted_tag_starts() -> None:
    st = station_with_cache({"TAG1": ACCEPTED}, local_authorize_offline=True)
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", None, T0 + 1)
    decisions = st.take()
    assert of_type(decisions, RequestAuthorization) == []
    assert [d.transaction.id_tag for d in of_type(decisions, TransactionStarted)] == ["TAG1"]


def test_offline_an_expired_cache_entry_is_refused() -> None:
    expired = AuthInfo(AuthStatus.Accepted, expires_at=T0 - 1)
    st = station_with_cache({"TAG1": expired}, local_authorize_offline=True)
    pilot(st, 1, B, T0)
    st.take()

    st.tag_presented("TAG1", None, T0)
    assert st.take() == [AuthorizationRejected("TAG1", "Expired", RefusedBy.OFFLINE_CACHE)]
    assert st.transactions() == []


def test_offline_allow_offline_tx_for_unknown_id_starts_an_unknown_tag() -> None:
    st = station_with_cache({}, allow_offline_unknown_id=True)
    pilot(st, 1, B, T0)
    st.tag_presented("STRANGER", None, T0)
    started = of_type(st.take(), TransactionStarted)
    assert [d.transaction.id_tag for d in started] == ["STRANGER"]


def test_offline_an_unknown_tag_is_refused_otherwise() -> None:
    st = station_with_cache({}, allow_offline_unknown_id=False)
    pilot(st, 1, B, T0)
    st.take()
    st.tag_presented("STRANGER", None, T0)
    assert st.take() == [AuthorizationRejected("STRANGER", "Invalid", RefusedBy.OFFLINE_UNKNOWN)]


def test_offline_without_local_authorize_offline_a_cached_tag_is_refused() -> None:
    st = station_with_cache({"TAG1": ACCEPTED}, local_authorize_offline=False)
    pilot(st, 1, B, T0)
    st.take()
    st.tag_presented("TAG1", None, T0)
    assert st.take() == [AuthorizationRejected("TAG1", "Invalid", RefusedBy.OFFLINE_UNKNOWN)]


def test_authorization_failed_starts_a_cached_accepted_tag_by_the_offline_rules() -> None:
    st = station_with_cache({"TAG1": ACCEPTED})
    st.link_changed(True)
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", None, T0)
    assert st.take()[-1] == RequestAuthorization("TAG1")

    st.authorization_failed("TAG1", T0 + 5)
    started = of_type(st.take(), TransactionStarted)
    assert [(d.transaction.id_tag, d.at) for d in started] == [("TAG1", T0 + 5)]


def test_authorization_failed_refuses_an_unknown_tag_by_the_offline_rules() -> None:
    st = make_station(allow_offline_unknown_id=False)
    pilot(st, 1, B, T0)
    st.tag_presented("STRANGER", None, T0)
    st.take()

    st.authorization_failed("STRANGER", T0 + 5)
    assert st.take() == [AuthorizationRejected("STRANGER", "Invalid", RefusedBy.OFFLINE_UNKNOWN)]


def test_authorization_failed_with_allow_offline_unknown_starts_an_unknown_tag() -> None:
    st = make_station(allow_offline_unknown_id=True)
    pilot(st, 1, B, T0)
    st.tag_presented("STRANGER", None, T0)
    st.take()

    st.authorization_failed("STRANGER", T0 + 5)
    assert len(of_type(st.take(), TransactionStarted)) == 1


# --- the EV leaves, pauses and returns ---------------------------------------------------------


def test_unplug_while_charging_stops_with_ev_disconnected() -> None:
    st = make_station(stop_on_ev_disconnect=True)
    tx = charging(st)
    st.meter_read(1, MeterReading(2000.0), T0 + 10)

    pilot(st, 1, A, T0 + 10)
    assert st.take() == [
        SwitchContactor(1, False),
        OfferCurrent(1, 0.0),
        TransactionEnded(tx, StopReason.EVDisconnected, 2000, MeterReading(2000.0), T0 + 10),
        SetLock(1, False),
        StatusChanged(1, "Charging", "Available", "NoError", T0 + 10),
    ]


def test_unplug_without_stop_on_ev_disconnect_keeps_the_transaction_suspended_ev() -> None:
    st = make_station(stop_on_ev_disconnect=False, unlock_on_ev_disconnect=True)
    tx = charging(st)

    pilot(st, 1, A, T0 + 10)
    assert st.take() == [
        SetLock(1, False),
        SwitchContactor(1, False),
        StatusChanged(1, "Charging", "SuspendedEV", "NoError", T0 + 10),
    ]
    assert st.connectors[1].transaction is tx


def test_replug_after_an_ev_side_disconnect_resumes_charging() -> None:
    st = make_station(stop_on_ev_disconnect=False)
    tx = charging(st)
    pilot(st, 1, A, T0 + 10)
    st.take()

    pilot(st, 1, C, T0 + 20)
    decisions = st.take()
    assert of_type(decisions, TransactionStarted) == []
    assert SwitchContactor(1, True) in decisions
    assert decisions[-1] == StatusChanged(1, "SuspendedEV", "Charging", "NoError", T0 + 20)
    assert st.connectors[1].transaction is tx


def test_replug_after_an_ev_side_disconnect_locks_the_cable_before_energy_flows() -> None:
    # UnlockConnectorOnEVSideDisconnect released the cable; the transaction goes on, so
    # the socket must be locked again before the contactor closes on the returning EV.
    st = make_station(stop_on_ev_disconnect=False, unlock_on_ev_disconnect=True)
    charging(st)
    pilot(st, 1, A, T0 + 10)
    st.take()

    pilot(st, 1, C, T0 + 20)
    decisions = st.take()
    assert SetLock(1, True) in decisions
    assert decisions.index(SetLock(1, True)) < decisions.index(SwitchContactor(1, True))
    assert st.connectors[1].locked


def test_ev_pause_is_suspended_ev_and_resume_is_charging() -> None:
    st = make_station()
    charging(st)

    pilot(st, 1, B, T0 + 10)
    assert st.take() == [
        SwitchContactor(1, False),
        StatusChanged(1, "Charging", "SuspendedEV", "NoError", T0 + 10),
    ]
    pilot(st, 1, C, T0 + 20)
    assert st.take() == [
        SwitchContactor(1, True),
        StatusChanged(1, "SuspendedEV", "Charging", "NoError", T0 + 20),
    ]


# --- power: offer and contactor ----------------------------------------------------------------


def test_before_authorization_the_ev_is_held_off_with_no_offer_and_an_open_contactor() -> None:
    st = make_station()
    pilot(st, 1, C, T0)  # an EV that asks for energy at once
    decisions = st.take()
    assert of_type(decisions, OfferCurrent) == []
    assert of_type(decisions, SwitchContactor) == []
    assert st.connectors[1].offered_a == 0
    assert status(st) == "Preparing"


def test_the_contactor_closes_only_with_an_offer_and_pilot_c() -> None:
    st = make_station()
    pilot(st, 1, C, T0)
    st.tag_presented("TAG1", None, T0)
    st.authorization_answered("TAG1", ACCEPTED, T0)
    decisions = st.take()
    power = of_type(decisions, OfferCurrent | SwitchContactor)
    assert power == [OfferCurrent(1, 32), SwitchContactor(1, True)]
    assert decisions[-1] == StatusChanged(1, "Preparing", "Charging", "NoError", T0)


def test_the_contactor_stays_open_in_pilot_b_with_an_offer() -> None:
    st = make_station()
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", None, T0)
    st.authorization_answered("TAG1", ACCEPTED, T0)
    decisions = st.take()
    assert of_type(decisions, SwitchContactor) == []
    assert of_type(decisions, OfferCurrent) == [OfferCurrent(1, 32)]
    assert not st.connectors[1].contactor_closed


# --- faults ------------------------------------------------------------------------------------


def test_fault_while_charging_cuts_the_power_before_ending_the_transaction() -> None:
    st = make_station()
    tx = charging(st, meter_wh=1000.0)

    st.hardware_event(FaultRaised(1, FaultCode.GroundFailure, "leak"), T0 + 10)
    assert st.take() == [
        SwitchContactor(1, False),
        OfferCurrent(1, 0.0),
        TransactionEnded(
            tx, StopReason.Fault, 1000, MeterReading(1000.0), T0 + 10, fault="GroundFailure"
        ),
        SetLock(1, False),
        StatusChanged(1, "Charging", "Faulted", "GroundFailure", T0 + 10),
    ]


def test_clearing_a_fault_with_the_ev_plugged_is_finishing_and_unplug_is_available() -> None:
    st = make_station()
    charging(st)
    st.hardware_event(FaultRaised(1, FaultCode.GroundFailure), T0 + 10)
    st.take()

    st.hardware_event(FaultCleared(1, FaultCode.GroundFailure), T0 + 20)
    assert st.take() == [StatusChanged(1, "Faulted", "Finishing", "NoError", T0 + 20)]
    pilot(st, 1, A, T0 + 30)
    assert st.take() == [StatusChanged(1, "Finishing", "Available", "NoError", T0 + 30)]


def test_a_reader_failure_is_reported_without_faulting_or_stopping_the_session() -> None:
    st = make_station()
    tx = charging(st)

    st.hardware_event(FaultRaised(1, FaultCode.ReaderFailure, "no PN532 answering"), T0 + 10)
    assert st.take() == []  # charging goes on; the error travels with the status
    assert st.connectors[1].transaction is tx
    assert (status(st), st.connectors[1].error_code) == ("Charging", "ReaderFailure")

    st.hardware_event(FaultRaised(1, FaultCode.GroundFailure), T0 + 11)
    assert st.connectors[1].error_code == "GroundFailure"  # the fault is what matters now
    st.hardware_event(FaultCleared(1, FaultCode.GroundFailure), T0 + 12)
    st.hardware_event(FaultCleared(1, FaultCode.ReaderFailure), T0 + 13)
    assert st.connectors[1].error_code == "NoError"


def test_a_faulted_connector_starts_nothing() -> None:
    st = make_station()
    st.hardware_event(FaultRaised(1, FaultCode.HighTemperature), T0)
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", 1, T0)
    st.authorization_answered("TAG1", ACCEPTED, T0)
    decisions = st.take()
    assert of_type(decisions, TransactionStarted) == []
    assert AuthorizationRejected("TAG1", "ConnectorNotReady", RefusedBy.NO_CONNECTOR) in decisions
    assert status(st) == "Faulted"


def test_pilot_e_is_faulted_with_ev_communication_error() -> None:
    st = make_station()
    tx = charging(st)

    pilot(st, 1, E, T0 + 10)
    decisions = st.take()
    ended = of_type(decisions, TransactionEnded)
    assert [(d.transaction.id, d.reason, d.fault) for d in ended] == [
        (tx.id, StopReason.Fault, "EVCommunicationError")
    ]
    assert decisions[0] == SwitchContactor(1, False)
    assert decisions[-1] == StatusChanged(1, "Charging", "Faulted", "EVCommunicationError", T0 + 10)


def test_pilot_e_then_a_recovers_to_available() -> None:
    st = make_station()
    pilot(st, 1, E, T0)
    assert st.take() == [StatusChanged(1, "Available", "Faulted", "EVCommunicationError", T0)]
    pilot(st, 1, A, T0 + 1)
    assert st.take() == [StatusChanged(1, "Faulted", "Available", "NoError", T0 + 1)]


def test_meter_failure_faults_the_connector_and_stops_a_running_transaction() -> None:
    st = make_station()
    tx = charging(st, meter_wh=1000.0)

    st.meter_failed(1, "no answer from the meter", T0 + 10)
    assert st.take() == [
        SwitchContactor(1, False),
        OfferCurrent(1, 0.0),
        TransactionEnded(
            tx, StopReason.Fault, 1000, MeterReading(1000.0), T0 + 10, fault="PowerMeterFailure"
        ),
        SetLock(1, False),
        StatusChanged(1, "Charging", "Faulted", "PowerMeterFailure", T0 + 10),
    ]


def test_a_good_meter_reading_after_a_meter_failure_recovers() -> None:
    st = make_station()
    st.meter_failed(1, "no answer", T0)
    assert st.take() == [StatusChanged(1, "Available", "Faulted", "PowerMeterFailure", T0)]

    st.meter_read(1, MeterReading(1000.0), T0 + 1)
    assert st.take() == [StatusChanged(1, "Faulted", "Available", "NoError", T0 + 1)]


# --- remote start and stop ---------------------------------------------------------------------


def test_remote_start_with_authorize_remote_tx_requests_asks_the_csms_first() -> None:
    st = make_station(authorize_remote_start=True)
    pilot(st, 1, B, T0)
    st.take()

    assert st.remote_start("TAG1", 1, T0, remote_start_id=7) is True
    assert st.take() == [RequestAuthorization("TAG1")]
    st.authorization_answered("TAG1", ACCEPTED, T0 + 1)
    started = of_type(st.take(), TransactionStarted)
    assert [(d.transaction.connector, d.transaction.remote_start_id) for d in started] == [(1, 7)]


def test_remote_start_without_authorize_remote_tx_requests_starts_directly() -> None:
    st = make_station(authorize_remote_start=False)
    pilot(st, 1, B, T0)
    st.take()

    assert st.remote_start("TAG1", 1, T0, remote_start_id=7) is True
    decisions = st.take()
    assert of_type(decisions, RequestAuthorization) == []
    started = of_type(decisions, TransactionStarted)
    assert [(d.transaction.id_tag, d.transaction.remote_start_id) for d in started] == [("TAG1", 7)]


def test_remote_start_is_rejected_on_a_faulted_connector() -> None:
    st = make_station(authorize_remote_start=False)
    st.hardware_event(FaultRaised(1, FaultCode.OverVoltage), T0)
    st.take()
    assert st.remote_start("TAG1", 1, T0) is False
    assert st.take() == []


def test_remote_start_is_rejected_on_an_unavailable_connector() -> None:
    st = make_station(authorize_remote_start=False)
    assert st.change_availability(1, False, T0) == "Accepted"
    st.take()
    assert st.remote_start("TAG1", 1, T0) is False
    assert st.take() == []


def test_remote_start_is_rejected_on_a_busy_connector() -> None:
    st = make_station(authorize_remote_start=False)
    charging(st)
    assert st.remote_start("TAG2", 1, T0 + 10) is False
    assert st.take() == []


def test_remote_start_on_an_unknown_connector_is_rejected() -> None:
    st = make_station()
    assert st.remote_start("TAG1", 9, T0) is False


def test_remote_stop_of_an_unknown_transaction_is_false() -> None:
    st = make_station()
    charging(st)
    assert st.remote_stop("no-such-tx", T0 + 10) is False
    assert st.take() == []


def test_remote_stop_ends_the_transaction_with_reason_remote() -> None:
    st = make_station()
    tx = charging(st)
    assert st.remote_stop(tx.id, T0 + 10) is True
    ended = of_type(st.take(), TransactionEnded)
    assert [(d.transaction.id, d.reason) for d in ended] == [(tx.id, StopReason.Remote)]


# --- availability, unlock, reset ---------------------------------------------------------------


def test_change_availability_inoperative_during_a_transaction_is_scheduled_for_its_end() -> None:
    st = make_station()
    tx = charging(st)

    assert st.change_availability(1, False, T0 + 10) == "Scheduled"
    # persisted at once, so a restart that ends the session still applies it
    assert st.take() == [AvailabilityChanged(1, False)]
    assert status(st) == "Charging"

    st.remote_stop(tx.id, T0 + 20)
    decisions = st.take()
    assert decisions.index(AvailabilityChanged(1, False)) > decisions.index(
        of_type(decisions, TransactionEnded)[0]
    )
    assert decisions[-1] == StatusChanged(1, "Charging", "Unavailable", "NoError", T0 + 20)
    assert status(st) == "Unavailable"


def test_a_connector_scheduled_inoperative_starts_no_new_transaction() -> None:
    st = make_station(authorize_remote_start=False)
    charging(st)
    st.change_availability(1, False, T0 + 10)
    assert st.remote_start("TAG2", 1, T0 + 11) is False


def test_change_availability_of_connector_zero_applies_to_every_connector() -> None:
    st = make_station()
    tx = charging(st)

    assert st.change_availability(0, False, T0 + 10) == "Scheduled"
    assert st.take() == [
        AvailabilityChanged(1, False),
        AvailabilityChanged(2, False),
        StatusChanged(2, "Available", "Unavailable", "NoError", T0 + 10),
    ]
    st.remote_stop(tx.id, T0 + 20)
    assert AvailabilityChanged(1, False) in st.take()
    assert (status(st, 1), status(st, 2)) == ("Unavailable", "Unavailable")


def test_change_availability_inoperative_when_idle_is_accepted_at_once() -> None:
    st = make_station()
    assert st.change_availability(1, False, T0) == "Accepted"
    assert st.take() == [
        AvailabilityChanged(1, False),
        StatusChanged(1, "Available", "Unavailable", "NoError", T0),
    ]


def test_change_availability_operative_puts_the_connector_back() -> None:
    st = make_station()
    st.change_availability(1, False, T0)
    st.take()
    assert st.change_availability(1, True, T0 + 1) == "Accepted"
    assert st.take() == [
        AvailabilityChanged(1, True),
        StatusChanged(1, "Unavailable", "Available", "NoError", T0 + 1),
    ]


def test_change_availability_of_an_unknown_connector_is_rejected() -> None:
    st = make_station()
    assert st.change_availability(9, False, T0) == "Rejected"
    assert st.take() == []


def test_unlock_during_a_transaction_stops_it_with_unlock_command_and_unlocks() -> None:
    st = make_station()
    tx = charging(st)

    assert st.unlock(1, T0 + 10) is True
    decisions = st.take()
    ended = of_type(decisions, TransactionEnded)
    assert [(d.transaction.id, d.reason) for d in ended] == [(tx.id, StopReason.UnlockCommand)]
    assert decisions.count(SetLock(1, False)) == 1
    assert decisions.index(ended[0]) < len(decisions) - 1
    assert not st.connectors[1].locked


def test_unlock_without_a_transaction_still_commands_the_lock_open() -> None:
    st = make_station()
    assert st.unlock(1, T0) is True
    assert st.take() == [SetLock(1, False)]


def test_unlock_of_an_unknown_connector_is_false() -> None:
    assert make_station().unlock(9, T0) is False


def test_hard_reset_stops_every_transaction_with_hard_reset() -> None:
    st = make_station(authorize_remote_start=False)
    charging(st)
    pilot(st, 2, B, T0)
    st.remote_start("TAG2", 2, T0)
    st.take()

    st.reset(True, T0 + 10)
    ended = of_type(st.take(), TransactionEnded)
    assert sorted((d.transaction.connector, d.reason) for d in ended) == [
        (1, StopReason.HardReset),
        (2, StopReason.HardReset),
    ]
    assert st.transactions() == []


def test_soft_reset_stops_transactions_with_soft_reset() -> None:
    st = make_station()
    charging(st)
    st.reset(False, T0 + 10)
    assert [d.reason for d in of_type(st.take(), TransactionEnded)] == [StopReason.SoftReset]


# --- the CSMS's verdict on a started transaction -----------------------------------------------


def test_invalid_tag_in_start_confirmation_stops_with_deauthorized() -> None:
    st = make_station(stop_on_invalid_id=True)
    tx = charging(st)
    invalid = AuthInfo(AuthStatus.Invalid)

    st.transaction_confirmed(tx.id, invalid, T0 + 10)
    decisions = st.take()
    assert decisions[0] == CacheAuthorization("TAG1", invalid)
    ended = of_type(decisions, TransactionEnded)
    assert [(d.transaction.id, d.reason) for d in ended] == [(tx.id, StopReason.DeAuthorized)]


def test_invalid_tag_without_stop_and_no_max_energy_suspends_evse_with_offer_zero() -> None:
    st = make_station(stop_on_invalid_id=False, max_energy_on_invalid_id_wh=0)
    tx = charging(st)

    st.transaction_confirmed(tx.id, AuthInfo(AuthStatus.Invalid), T0 + 10)
    decisions = st.take()
    assert of_type(decisions, TransactionEnded) == []
    assert decisions[1:] == [
        SwitchContactor(1, False),
        OfferCurrent(1, 0.0),
        StatusChanged(1, "Charging", "SuspendedEVSE", "NoError", T0 + 10),
    ]
    assert st.connectors[1].transaction is tx


def test_invalid_tag_with_max_energy_suspends_when_the_meter_passes_the_limit() -> None:
    st = make_station(stop_on_invalid_id=False, max_energy_on_invalid_id_wh=500)
    tx = charging(st, meter_wh=1000.0)

    st.transaction_confirmed(tx.id, AuthInfo(AuthStatus.Invalid), T0 + 10)
    decisions = st.take()
    assert of_type(decisions, OfferCurrent | SwitchContactor | StatusChanged) == []

    st.meter_read(1, MeterReading(1499.0), T0 + 20)
    assert st.take() == []
    st.meter_read(1, MeterReading(1500.5), T0 + 30)
    assert st.take() == [
        SwitchContactor(1, False),
        OfferCurrent(1, 0.0),
        StatusChanged(1, "Charging", "SuspendedEVSE", "NoError", T0 + 30),
    ]


def test_accepted_start_confirmation_changes_nothing_but_the_cache() -> None:
    st = make_station()
    tx = charging(st)
    st.transaction_confirmed(tx.id, ACCEPTED, T0 + 10)
    assert st.take() == [CacheAuthorization("TAG1", ACCEPTED)]
    assert status(st) == "Charging"


# --- meter values ------------------------------------------------------------------------------


def test_periodic_samples_come_every_sample_interval_from_the_transaction_start() -> None:
    st = make_station(sample_interval_s=60)
    tx = charging(st, meter_wh=1000.0)  # started at T0 + 2
    start = tx.started_at

    st.meter_read(1, MeterReading(1100.4), start + 30)
    st.tick(start + 59)
    assert st.take() == []
    st.tick(start + 60)
    assert st.take() == [MeterSampled(1, tx, MeterReading(1100.4), "Sample.Periodic", start + 60)]
    assert tx.last_meter_wh == 1100

    st.meter_read(1, MeterReading(1200.0), start + 100)
    st.tick(start + 119)
    assert st.take() == []
    st.tick(start + 120)
    samples = of_type(st.take(), MeterSampled)
    assert [(s.context, s.reading.energy_wh) for s in samples] == [("Sample.Periodic", 1200.0)]
    assert tx.last_meter_wh == 1200


def test_periodic_samples_keep_to_the_start_grid_when_a_tick_comes_late() -> None:
    # "sampled ... periodically at this interval from the start of the transaction":
    # one late tick must not shift every later sample.
    st = make_station(sample_interval_s=60)
    tx = charging(st)
    start = tx.started_at

    st.tick(start + 60.9)
    assert len(of_type(st.take(), MeterSampled)) == 1
    st.tick(start + 120.2)
    assert len(of_type(st.take(), MeterSampled)) == 1


def test_no_periodic_samples_without_a_transaction() -> None:
    st = make_station(sample_interval_s=60)
    st.meter_read(1, MeterReading(1000.0), T0)
    st.tick(T0)
    st.tick(T0 + 600)
    assert st.take() == []


def test_clock_aligned_samples_come_at_interval_boundaries_for_every_connector() -> None:
    st = make_station(aligned_interval_s=900, sample_interval_s=0)
    tx = charging(st, meter_wh=1000.0)
    st.meter_read(2, MeterReading(50.0), T0)
    boundary = (T0 // 900 + 1) * 900

    st.tick(boundary - 1)
    assert st.take() == []
    st.tick(boundary + 0.5)
    assert st.take() == [
        MeterSampled(1, tx, MeterReading(1000.0), "Sample.Clock", boundary + 0.5),
        MeterSampled(2, None, MeterReading(50.0), "Sample.Clock", boundary + 0.5),
    ]
    st.tick(boundary + 899)
    assert st.take() == []
    st.tick(boundary + 900)
    assert len(of_type(st.take(), MeterSampled)) == 2


# --- interrupted transactions ------------------------------------------------------------------


def interrupted(last_meter_wh: int) -> Transaction:
    return Transaction("old-1", 1, "TAG1", 1000, T0 - 3600, last_meter_wh)


def test_end_interrupted_reports_the_meter_when_above_the_last_reported_value() -> None:
    st = make_station()
    st.meter_read(1, MeterReading(5000.4), T0)
    tx = interrupted(4000)
    st.end_interrupted(tx, StopReason.PowerLoss, T0)
    assert st.take() == [TransactionEnded(tx, StopReason.PowerLoss, 5000, MeterReading(5000.4), T0)]


def test_end_interrupted_never_goes_below_the_last_reported_value() -> None:
    st = make_station()
    st.meter_read(1, MeterReading(3000.0), T0)
    st.end_interrupted(interrupted(4000), StopReason.PowerLoss, T0)
    assert [d.meter_stop_wh for d in of_type(st.take(), TransactionEnded)] == [4000]


def test_end_interrupted_without_a_reading_uses_the_last_reported_value() -> None:
    st = make_station()
    st.end_interrupted(interrupted(4000), StopReason.Reboot, T0)
    ended = of_type(st.take(), TransactionEnded)
    assert [(d.meter_stop_wh, d.reason, d.reading) for d in ended] == [
        (4000, StopReason.Reboot, None)
    ]


# --- the authorization cache and construction --------------------------------------------------


def test_answers_update_the_auth_cache() -> None:
    st = make_station()
    info = AuthInfo(AuthStatus.Accepted, expires_at=T0 + 3600, parent_id="FLEET")
    st.tag_presented("TAG1", None, T0)
    st.take()
    st.authorization_answered("TAG1", info, T0)
    assert st.take()[0] == CacheAuthorization("TAG1", info)
    assert st.auth_cache == {"tag1": info}  # id tags compare without regard to case


def test_clear_cache_empties_it() -> None:
    st = station_with_cache({"TAG1": ACCEPTED})
    st.clear_cache()
    assert st.take() == [CacheAuthorization(None, None)]
    assert st.auth_cache == {}


def test_with_the_cache_disabled_answers_are_not_cached() -> None:
    st = make_station(auth_cache_enabled=False)
    st.tag_presented("TAG1", None, T0)
    st.take()
    st.authorization_answered("TAG1", ACCEPTED, T0)
    assert of_type(st.take(), CacheAuthorization) == []
    assert st.auth_cache == {}


def test_inoperative_connectors_given_at_construction_start_unavailable() -> None:
    st = Station(
        [ConnectorSpec(1, 32, 3), ConnectorSpec(2, 32, 3)],
        CoreSettings(),
        inoperative=[2],
    )
    assert (status(st, 1), status(st, 2)) == ("Available", "Unavailable")
    assert of_type(st.take(), StatusChanged) == [
        StatusChanged(2, "Available", "Unavailable", "NoError", 0.0)
    ]


def test_the_auth_cache_keeps_the_most_recently_seen_tags_within_its_size() -> None:
    from chargerd.core.authorization import AUTH_CACHE_SIZE

    st = make_station()
    for n in range(AUTH_CACHE_SIZE + 2):
        st.tag_presented(f"TAG{n}", None, T0 + n)
        st.authorization_answered(f"TAG{n}", ACCEPTED, T0 + n)
    decisions = st.take()
    assert len(st.auth_cache) == AUTH_CACHE_SIZE
    forgotten = [d.id_tag for d in decisions if isinstance(d, CacheAuthorization) and not d.info]
    assert forgotten == ["tag0", "tag1"]
    assert "tag2" in st.auth_cache and f"tag{AUTH_CACHE_SIZE + 1}" in st.auth_cache
