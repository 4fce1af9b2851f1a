"""The core obeys a smart-charging limit: the offer follows it, below 6 A the EV is held off
(SuspendedEVSE, the transaction stays open) and it resumes when the limit rises."""

from __future__ import annotations

import itertools

from chargerd.core.model import (
    CoreSettings,
    OfferCurrent,
    StatusChanged,
    SwitchContactor,
    TransactionEnded,
)
from chargerd.core.station import ConnectorSpec, Station
from chargerd.core.tx_policy import TxPoint, TxPolicy
from tests.test_station import ACCEPTED, T0, B, C, charging, of_type, pilot, status


def make_station(**settings: object) -> Station:
    ids = (f"tx-{n}" for n in itertools.count(1))
    station = Station(
        [ConnectorSpec(1, 32, 3), ConnectorSpec(2, 16, 1)],
        CoreSettings(**settings),  # type: ignore[arg-type]
        new_transaction_id=lambda: next(ids),
    )
    station.link_changed(True)
    return station


def test_a_limit_lowers_the_offer_of_a_running_session_at_once() -> None:
    st = make_station()
    charging(st)
    st.set_limit(1, 16, "csms", T0 + 10)
    assert st.take() == [OfferCurrent(1, 16)]
    assert st.connectors[1].offered_a == 16
    assert status(st) == "Charging"


def test_a_limit_above_the_connector_maximum_offers_the_maximum() -> None:
    st = make_station()
    charging(st)
    st.set_limit(1, 40, "site", T0 + 10)
    assert st.take() == []
    assert st.connectors[1].offered_a == 32


def test_below_6_a_the_ev_is_held_off_and_the_transaction_stays_open() -> None:
    st = make_station()
    tx = charging(st)
    st.set_limit(1, 4, "csms", T0 + 10)
    assert st.take() == [
        SwitchContactor(1, False),
        OfferCurrent(1, 0),
        StatusChanged(1, "Charging", "SuspendedEVSE", "NoError", T0 + 10),
    ]
    pilot(st, 1, B, T0 + 11)  # the EV stops asking without PWM
    assert of_type(st.take(), StatusChanged) == []  # still SuspendedEVSE, not SuspendedEV
    c = st.connectors[1]
    assert c.transaction is tx and c.offered_a == 0 and c.limit_a == 4
    assert status(st) == "SuspendedEVSE"


def test_the_session_resumes_when_the_limit_rises_again() -> None:
    st = make_station()
    charging(st)
    st.set_limit(1, 0, "external", T0 + 10)
    pilot(st, 1, B, T0 + 11)
    st.take()
    st.set_limit(1, 16, "csms", T0 + 20)
    assert st.take() == [
        OfferCurrent(1, 16),
        StatusChanged(1, "SuspendedEVSE", "SuspendedEV", "NoError", T0 + 20),
    ]
    pilot(st, 1, C, T0 + 21)  # the EV sees the PWM and draws again
    assert st.take() == [
        SwitchContactor(1, True),
        StatusChanged(1, "SuspendedEV", "Charging", "NoError", T0 + 21),
    ]


def test_a_limit_set_before_the_session_applies_from_its_start() -> None:
    st = make_station()
    st.set_limit(1, 10, "site", T0)
    assert st.take() == []  # nothing is offered without a session
    charging(st)
    assert st.connectors[1].offered_a == 10


def test_a_session_starting_under_a_limit_below_6_a_is_suspended_by_the_station() -> None:
    st = make_station()
    st.set_limit(1, 0, "site", T0)
    pilot(st, 1, B, T0)
    st.tag_presented("TAG1", None, T0 + 1)
    st.authorization_answered("TAG1", ACCEPTED, T0 + 2)
    decisions = st.take()
    assert of_type(decisions, OfferCurrent) == []
    assert status(st) == "SuspendedEVSE"
    assert st.connectors[1].transaction is not None


def test_clearing_the_limit_offers_the_connector_maximum() -> None:
    st = make_station()
    charging(st)
    st.set_limit(1, 10, "csms", T0 + 10)
    st.take()
    st.set_limit(1, None, "connector", T0 + 20)
    assert st.take() == [OfferCurrent(1, 32)]


def test_a_pause_by_limit_does_not_end_a_transaction_that_stops_with_the_energy() -> None:
    # 2.0.1 TxStopPoint EnergyTransfer: the EV stopping ends it, the station holding it off not
    policy = TxPolicy(
        start=frozenset({TxPoint.AUTHORIZED}), stop=frozenset({TxPoint.ENERGY_FLOWING})
    )
    st = make_station(tx_policy=policy)
    charging(st)
    st.set_limit(1, 3, "site", T0 + 10)
    pilot(st, 1, B, T0 + 11)
    assert of_type(st.take(), TransactionEnded) == []
    assert st.connectors[1].transaction is not None


def test_the_limit_and_its_source_are_kept_on_the_connector() -> None:
    st = make_station()
    st.set_limit(2, 4, "external", T0)
    c = st.connectors[2]
    assert (c.limit_a, c.limit_source, c.held_off) == (4, "external", True)
    assert st.connectors[1].limit_a is None
