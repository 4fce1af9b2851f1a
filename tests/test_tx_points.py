"""When transactions start and end (core/tx_points.py): every start point and stop point
combination of OCPP 2.0.1 TxStartPoint / TxStopPoint, fed to the sans-I/O core.

Start: "the first of the listed points that becomes true starts the transaction" (E01-E05).
Stop: "when one of the listed points is no longer true, the transaction ends" (E06).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chargerd.core.model import (
    AuthInfo,
    AuthStatus,
    CoreSettings,
    OfferCurrent,
    SetLock,
    StopReason,
    TransactionAuthorized,
    TransactionDeauthorized,
    TransactionEnded,
    TransactionStarted,
)
from chargerd.core.station import ConnectorSpec, Station
from chargerd.core.tx_policy import TxPoint, TxPolicy
from hal.interfaces import BayChanged, PilotChanged, PilotState

T0 = 1_700_000_000.0
P = TxPoint
ALL = list(TxPoint)
ACCEPTED = AuthInfo(AuthStatus.Accepted)


def subsets(points: list[TxPoint]) -> list[frozenset[TxPoint]]:
    return [
        frozenset(combo)
        for n in range(1, len(points) + 1)
        for combo in itertools.combinations(points, n)
    ]


def name(points: frozenset[TxPoint]) -> str:
    return "+".join(sorted(p.name for p in points))


class Rig:
    """One connector and what happens to it: a car in the bay, the cable, a card, the EV
    drawing. `seen` keeps every decision."""

    def __init__(self, **settings: Any):
        ids = (f"tx-{n}" for n in itertools.count(1))
        self.station = Station(
            [ConnectorSpec(1, 32, 3)],
            CoreSettings(**settings),
            new_transaction_id=lambda: next(ids),
        )
        self.station.link_changed(True)
        self.now = T0
        self.seen: list[Any] = []

    def step(self) -> list[Any]:
        self.now += 1
        decisions = self.station.take()
        self.seen += decisions
        return decisions

    def bay(self, occupied: bool) -> list[Any]:
        self.station.hardware_event(BayChanged(1, occupied), self.now)
        return self.step()

    def pilot(self, state: PilotState) -> list[Any]:
        self.station.hardware_event(PilotChanged(1, state), self.now)
        return self.step()

    def card(self, tag: str = "TAG") -> list[Any]:
        self.station.tag_presented(tag, 1, self.now)
        if tag in self.station._pending:
            self.station.authorization_answered(tag, ACCEPTED, self.now)
        return self.step()

    def tick(self, seconds: float) -> list[Any]:
        self.now += seconds
        self.station.tick(self.now)
        return self.step()

    @property
    def tx(self) -> Any:
        return self.station.connectors[1].transaction

    def started(self) -> list[TransactionStarted]:
        return [d for d in self.seen if isinstance(d, TransactionStarted)]

    def ended(self) -> list[TransactionEnded]:
        return [d for d in self.seen if isinstance(d, TransactionEnded)]


def events(rig: Rig, order: str) -> list[tuple[str, Any, TxPoint]]:
    """The steps of a session in `order` and the point each one makes true last."""
    steps = {
        "bay": (lambda: rig.bay(True), P.BAY_OCCUPIED),
        "plug": (lambda: rig.pilot(PilotState.B), P.EV_CONNECTED),
        "card": (lambda: rig.card(), P.AUTHORIZED),
        "draw": (lambda: rig.pilot(PilotState.C), P.ENERGY_FLOWING),
    }
    return [(step, *steps[step]) for step in order.split(",")]


# Which steps make which points true, in each order (the power path closes with the later
# of the cable and the card).
MADE_TRUE = {
    "bay,plug,card,draw": [
        {P.BAY_OCCUPIED},
        {P.EV_CONNECTED},
        {P.AUTHORIZED, P.POWER_PATH_CLOSED},
        {P.ENERGY_FLOWING},
    ],
    "card,bay,plug,draw": [
        {P.AUTHORIZED},
        {P.BAY_OCCUPIED},
        {P.EV_CONNECTED, P.POWER_PATH_CLOSED},
        {P.ENERGY_FLOWING},
    ],
}


@pytest.mark.parametrize("order", list(MADE_TRUE))
@pytest.mark.parametrize("start", subsets(ALL), ids=name)
def test_a_transaction_starts_at_the_first_start_point_reached(
    start: frozenset[TxPoint], order: str
) -> None:
    rig = Rig(tx_policy=TxPolicy(start=start))
    expected_step = next(i for i, made in enumerate(MADE_TRUE[order]) if made & start)
    for i, (step, run, cause) in enumerate(events(rig, order)):
        run()
        started = rig.started()
        assert len(started) == (1 if i >= expected_step else 0), f"after {step}"
        if i == expected_step:
            assert started[0].cause is cause
    # whatever started it, the driver's card authorized it and the EV charges
    assert rig.tx is not None and rig.tx.authorized and rig.tx.id_tag == "TAG"
    assert rig.station.connectors[1].contactor_closed
    assert not rig.ended()


def test_before_the_card_a_transaction_gets_no_energy_then_the_card_authorizes_it() -> None:
    rig = Rig(tx_policy=TxPolicy(start=frozenset({P.EV_CONNECTED})))
    rig.pilot(PilotState.B)
    assert rig.tx is not None and not rig.tx.authorized and rig.tx.id_tag == ""
    assert rig.station.connectors[1].offered_a == 0
    assert str(rig.station.connectors[1].status) == "Preparing"
    decisions = rig.card()
    authorized = [d for d in decisions if isinstance(d, TransactionAuthorized)]
    assert [d.transaction.id_tag for d in authorized] == ["TAG"]
    assert OfferCurrent(1, 32) in decisions
    assert len(rig.started()) == 1  # the same transaction


def test_a_remote_start_authorizes_the_transaction_the_plug_began() -> None:
    rig = Rig(tx_policy=TxPolicy(start=frozenset({P.EV_CONNECTED})), authorize_remote_start=False)
    rig.pilot(PilotState.B)
    assert rig.station.remote_start("REMOTE", 1, rig.now, remote_start_id=7)
    decisions = rig.step()
    (authorized,) = [d for d in decisions if isinstance(d, TransactionAuthorized)]
    assert authorized.transaction.remote_start_id == 7
    assert authorized.transaction.id_tag == "REMOTE"


def test_remote_start_first_starts_the_transaction_at_once_when_authorized_is_a_start_point() -> (
    None
):
    rig = Rig(tx_policy=TxPolicy(start=frozenset({P.AUTHORIZED})), authorize_remote_start=False)
    assert rig.station.remote_start("REMOTE", 1, rig.now, remote_start_id=3)
    (started,) = [d for d in rig.step() if isinstance(d, TransactionStarted)]
    assert started.cause is P.AUTHORIZED
    assert started.transaction.remote_start_id == 3
    assert not rig.station.connectors[1].contactor_closed  # no EV yet


def test_no_ev_within_the_connection_timeout_ends_a_transaction_begun_at_authorization() -> None:
    rig = Rig(tx_policy=TxPolicy(start=frozenset({P.AUTHORIZED})), connection_timeout_s=30)
    rig.card()
    assert rig.tx is not None
    assert not rig.tick(28)
    (ended,) = [d for d in rig.tick(2) if isinstance(d, TransactionEnded)]
    assert ended.reason is StopReason.Timeout


def test_the_connection_timeout_does_not_apply_once_the_ev_came() -> None:
    rig = Rig(tx_policy=TxPolicy(start=frozenset({P.AUTHORIZED})), connection_timeout_s=30)
    rig.card()
    rig.pilot(PilotState.B)
    rig.tick(60)
    assert rig.tx is not None and not rig.ended()


def test_an_ev_left_plugged_after_its_transaction_does_not_start_another() -> None:
    rig = Rig(tx_policy=TxPolicy(start=frozenset({P.EV_CONNECTED})))
    rig.pilot(PilotState.B)
    rig.card()
    rig.card()  # the same card again: the driver ends it
    rig.tick(1)
    assert len(rig.started()) == 1 and len(rig.ended()) == 1
    assert rig.tx is None


def test_a_bay_sensor_starts_nothing_under_the_default_policy() -> None:
    rig = Rig()
    rig.bay(True)
    rig.pilot(PilotState.B)
    assert rig.tx is None


# --- stop points ------------------------------------------------------------------------

# What each happening takes away, whether it ends a transaction with these stop points,
# and the reason. Unplugging loses the EV, the power path and the energy; the card
# (deauthorization) loses the authorization, the power path and the energy.
HAPPENINGS = {
    "bay free": ({P.BAY_OCCUPIED}, StopReason.EVDeparted),
    "EV pauses": ({P.ENERGY_FLOWING}, StopReason.StoppedByEV),
    "unplug": ({P.EV_CONNECTED, P.POWER_PATH_CLOSED, P.ENERGY_FLOWING}, StopReason.EVDisconnected),
    "card again": ({P.AUTHORIZED, P.POWER_PATH_CLOSED, P.ENERGY_FLOWING}, StopReason.Local),
}


def session(stop: frozenset[TxPoint]) -> Rig:
    """A transaction under way with every fact true: bay, EV drawing, card."""
    rig = Rig(tx_policy=TxPolicy(stop=stop), stop_on_ev_disconnect=False)
    rig.bay(True)
    rig.pilot(PilotState.B)
    rig.card()
    rig.pilot(PilotState.C)
    assert rig.tx is not None and rig.station.connectors[1].contactor_closed
    return rig


def happen(rig: Rig, what: str) -> list[Any]:
    if what == "bay free":
        return rig.bay(False)
    if what == "EV pauses":
        return rig.pilot(PilotState.B)
    if what == "unplug":
        return rig.pilot(PilotState.A)
    return rig.card()


@pytest.mark.parametrize("what", list(HAPPENINGS))
@pytest.mark.parametrize("stop", subsets(ALL), ids=name)
def test_a_transaction_ends_when_a_stop_point_is_no_longer_true(
    stop: frozenset[TxPoint], what: str
) -> None:
    rig = session(stop)
    lost, reason = HAPPENINGS[what]
    decisions = happen(rig, what)
    ended = [d for d in decisions if isinstance(d, TransactionEnded)]
    if lost & stop:
        assert [d.reason for d in ended] == [reason]
        assert rig.tx is None
    else:
        assert not ended and rig.tx is not None


@pytest.mark.parametrize("stop", [frozenset({P.EV_CONNECTED}), frozenset({P.BAY_OCCUPIED})])
def test_a_card_that_does_not_end_the_transaction_cuts_the_energy_and_frees_the_cable(
    stop: frozenset[TxPoint],
) -> None:
    rig = session(stop)
    decisions = rig.card()
    (deauthorized,) = [d for d in decisions if isinstance(d, TransactionDeauthorized)]
    assert deauthorized.reason is StopReason.Local and deauthorized.id_tag == "TAG"
    assert OfferCurrent(1, 0) in decisions and SetLock(1, False) in decisions
    assert str(rig.station.connectors[1].status) == "SuspendedEVSE"
    assert rig.tx is not None and not rig.tx.authorized


def test_a_deauthorized_transaction_ends_when_the_ev_leaves() -> None:
    rig = session(frozenset({P.EV_CONNECTED}))
    rig.card()
    rig.pilot(PilotState.B)
    (ended,) = [d for d in rig.pilot(PilotState.A) if isinstance(d, TransactionEnded)]
    assert ended.reason is StopReason.EVDisconnected


def test_a_remote_stop_that_does_not_end_the_transaction_is_reported_as_remote() -> None:
    rig = session(frozenset({P.EV_CONNECTED}))
    assert rig.tx is not None
    assert rig.station.remote_stop(rig.tx.id, rig.now)
    (deauthorized,) = [d for d in rig.step() if isinstance(d, TransactionDeauthorized)]
    assert deauthorized.reason is StopReason.Remote


# --- free charging ----------------------------------------------------------------------


def test_free_charging_starts_at_plug_in_with_the_free_id_tag() -> None:
    rig = Rig(free_id_tag="FREE")
    decisions = rig.pilot(PilotState.B)
    (started,) = [d for d in decisions if isinstance(d, TransactionStarted)]
    assert started.transaction.id_tag == "FREE" and started.cause is P.EV_CONNECTED
    assert OfferCurrent(1, 32) in decisions
    rig.pilot(PilotState.C)
    (ended,) = [d for d in rig.pilot(PilotState.A) if isinstance(d, TransactionEnded)]
    assert ended.reason is StopReason.EVDisconnected


def test_free_charging_starts_again_for_the_next_ev() -> None:
    rig = Rig(free_id_tag="FREE")
    rig.pilot(PilotState.B)
    rig.pilot(PilotState.A)
    rig.pilot(PilotState.B)
    assert len(rig.started()) == 2 and rig.tx is not None


def test_free_charging_authorizes_a_transaction_the_bay_began() -> None:
    rig = Rig(free_id_tag="", tx_policy=TxPolicy(start=frozenset({P.BAY_OCCUPIED})))
    rig.bay(True)
    assert rig.tx is not None and not rig.tx.authorized
    decisions = rig.pilot(PilotState.B)
    assert [type(d) for d in decisions if isinstance(d, TransactionAuthorized)] == [
        TransactionAuthorized
    ]
    assert rig.tx.authorized


def test_the_bay_ends_a_transaction_the_ev_already_left_with_reason_ev_departed() -> None:
    bay = frozenset({P.BAY_OCCUPIED})
    rig = Rig(tx_policy=TxPolicy(start=bay, stop=bay), stop_on_ev_disconnect=False)
    rig.bay(True)
    rig.pilot(PilotState.B)
    rig.card()
    rig.pilot(PilotState.A)
    assert rig.tx is not None
    (ended,) = [d for d in rig.bay(False) if isinstance(d, TransactionEnded)]
    assert ended.reason is StopReason.EVDeparted


def test_a_csms_verdict_on_free_charging_s_empty_id_token_stops_nothing() -> None:
    rig = Rig(free_id_tag="")
    rig.pilot(PilotState.B)
    assert rig.tx is not None
    rig.station.transaction_confirmed(rig.tx.id, AuthInfo(AuthStatus.Invalid), rig.now)
    assert not [d for d in rig.step() if isinstance(d, TransactionEnded)]
    assert rig.tx is not None and rig.tx.authorized


def test_a_verdict_on_the_card_that_deauthorized_a_transaction_does_not_end_it() -> None:
    rig = session(frozenset({P.EV_CONNECTED}))
    rig.card()
    assert rig.tx is not None
    rig.station.transaction_confirmed(rig.tx.id, AuthInfo(AuthStatus.Invalid), rig.now)
    assert not [d for d in rig.step() if isinstance(d, TransactionEnded)]


def test_unplugging_deauthorizes_and_the_bay_then_ends_the_transaction() -> None:
    """2.0.1 StopTxOnEVSideDisconnect with TxStopPoint ParkingBayOccupancy: the EV leaving
    withdraws the authorization; the transaction ends when the bay is left."""
    bay = frozenset({P.BAY_OCCUPIED})
    rig = Rig(
        tx_policy=TxPolicy(stop=bay), stop_on_ev_disconnect=False, deauthorize_on_ev_disconnect=True
    )
    rig.bay(True)
    rig.pilot(PilotState.B)
    rig.card()
    decisions = rig.pilot(PilotState.A)
    (deauthorized,) = [d for d in decisions if isinstance(d, TransactionDeauthorized)]
    assert deauthorized.reason is StopReason.EVDisconnected
    assert rig.tx is not None and not rig.tx.authorized
    (ended,) = [d for d in rig.bay(False) if isinstance(d, TransactionEnded)]
    assert ended.reason is StopReason.EVDeparted


def test_unplugging_deauthorizes_which_ends_the_transaction_when_authorized_is_a_stop_point() -> (
    None
):
    rig = Rig(stop_on_ev_disconnect=False, deauthorize_on_ev_disconnect=True)
    rig.pilot(PilotState.B)
    rig.card()
    (ended,) = [d for d in rig.pilot(PilotState.A) if isinstance(d, TransactionEnded)]
    assert ended.reason is StopReason.EVDisconnected
