"""The connector status table (chargerd.core.connector): facts in, table moves out."""

from __future__ import annotations

from typing import Any

import pytest
from transitions import MachineError

from chargerd.core.connector import TRANSITIONS, Connector, Status
from chargerd.core.model import Authorization, Transaction
from hal.interfaces import PilotState

S = Status
P = PilotState


def tx(*, suspended: bool = False) -> Transaction:
    return Transaction(
        id="tx-1",
        connector=1,
        id_tag="TAG1",
        meter_start_wh=0,
        started_at=0.0,
        last_meter_wh=0,
        suspended_by_station=suspended,
    )


def set_facts(
    c: Connector,
    *,
    pilot: PilotState = P.A,
    faults: dict[str, str] | None = None,
    operative: bool = True,
    authorization: Authorization | None = None,
    transaction: Transaction | None = None,
    finishing: bool = False,
    reserved: bool = False,
) -> Connector:
    """Replace every fact of the connector (the status is left to settle())."""
    c.pilot = pilot
    c.faults = dict(faults or {})
    c.operative = operative
    c.authorization = authorization
    c.transaction = transaction
    c.finishing = finishing
    c.reserved = reserved
    return c


# The facts that call for each status.
FACTS: dict[Status, dict[str, Any]] = {
    S.Available: {},
    S.Preparing: {"pilot": P.B},
    S.Charging: {"pilot": P.C, "transaction": tx()},
    S.SuspendedEV: {"pilot": P.B, "transaction": tx()},
    S.SuspendedEVSE: {"pilot": P.C, "transaction": tx(suspended=True)},
    S.Finishing: {"pilot": P.B, "finishing": True},
    S.Unavailable: {"operative": False},
    S.Faulted: {"faults": {"GroundFailure": "leak"}},
    S.Reserved: {"reserved": True},
}


def connector_in(status: Status) -> Connector:
    """A fresh connector brought to `status` through facts."""
    c = Connector(1, max_current_a=32, phases=3)
    set_facts(c, **FACTS[status])
    c.settle()
    assert c.status is status
    return c


def table_rows() -> list[tuple[str, Status, Status]]:
    rows = []
    for trigger, sources, dest in TRANSITIONS:
        for source in sources if isinstance(sources, list) else [sources]:
            rows.append((trigger, source, dest))
    return rows


# --- every row of the table is reachable -------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "source", "dest"),
    table_rows(),
    ids=[f"{t}:{s}->{d}" for t, s, d in table_rows()],
)
def test_every_table_row_is_one_move_when_the_facts_call_for_its_destination(
    trigger: str, source: Status, dest: Status
) -> None:
    c = connector_in(source)
    if trigger == "authorized":
        facts: dict[str, Any] = {"authorization": Authorization("TAG1", 0.0)}
    else:
        facts = FACTS[dest]
    set_facts(c, **facts)

    assert c.settle() == [(source, dest)]
    assert c.status is dest


def test_settle_makes_no_move_when_the_status_already_fits_the_facts() -> None:
    c = connector_in(S.Charging)
    assert c.settle() == []
    assert c.status is S.Charging


def test_an_accepted_tag_without_a_cable_is_preparing_and_leaves_it_when_withdrawn() -> None:
    c = Connector(1, max_current_a=32, phases=3)
    c.authorization = Authorization("TAG1", 0.0)
    assert c.settle() == [(S.Available, S.Preparing)]
    c.authorization = None
    assert c.settle() == [(S.Preparing, S.Available)]


# --- moves the table does not list -------------------------------------------------------------


def unlisted_moves() -> list[tuple[str, Status]]:
    allowed: dict[str, set[Status]] = {}
    for trigger, source, _ in table_rows():
        allowed.setdefault(trigger, set()).add(source)
    return [
        (trigger, state)
        for trigger, sources in allowed.items()
        for state in Status
        if state not in sources
    ]


@pytest.mark.parametrize(
    ("trigger", "state"), unlisted_moves(), ids=[f"{t}@{s}" for t, s in unlisted_moves()]
)
def test_a_trigger_fired_from_a_state_it_does_not_list_raises_machine_error(
    trigger: str, state: Status
) -> None:
    c = Connector(1, max_current_a=32, phases=3)
    c.machine.set_state(state)
    with pytest.raises(MachineError):
        getattr(c, trigger)()
    assert c.status is state


def test_available_to_charging_is_not_a_table_move() -> None:
    c = Connector(1, max_current_a=32, phases=3)
    with pytest.raises(MachineError):
        c.energy_flows()


def test_a_reserved_connector_is_preparing_while_an_ev_is_plugged_and_reserved_after() -> None:
    c = connector_in(S.Reserved)
    set_facts(c, pilot=P.B, reserved=True)
    assert c.settle() == [(S.Reserved, S.Preparing)]
    set_facts(c, reserved=True)
    assert c.settle() == [(S.Preparing, S.Reserved)]


# --- multi-move settles ------------------------------------------------------------------------


def test_finishing_to_charging_goes_through_preparing() -> None:
    c = connector_in(S.Finishing)
    set_facts(c, pilot=P.C, transaction=tx())

    assert c.settle() == [(S.Finishing, S.Preparing), (S.Preparing, S.Charging)]
    assert c.status is S.Charging


def test_a_transaction_ending_with_the_ev_plugged_and_not_finishing_is_preparing_in_two_moves() -> (
    None
):
    c = connector_in(S.Charging)
    set_facts(c, pilot=P.B)

    assert c.settle() == [(S.Charging, S.Finishing), (S.Finishing, S.Preparing)]


def test_settle_never_passes_through_faulted_on_its_way() -> None:
    c = connector_in(S.Available)
    set_facts(c, pilot=P.B, finishing=True)

    path = c.settle()
    assert path[-1][1] is S.Finishing
    assert all(S.Faulted not in move for move in path)


# --- wanted_status: which fact wins ------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "wanted"),
    [
        pytest.param(
            {
                "faults": {"GroundFailure": ""},
                "pilot": P.C,
                "transaction": tx(),
                "operative": False,
            },
            S.Faulted,
            id="fault beats transaction and inoperative",
        ),
        pytest.param(
            {"faults": {"OtherError": ""}, "pilot": P.B, "finishing": True},
            S.Faulted,
            id="fault beats finishing",
        ),
        pytest.param(
            {"pilot": P.C, "transaction": tx(suspended=True)},
            S.SuspendedEVSE,
            id="station suspension beats an EV drawing",
        ),
        pytest.param(
            {"pilot": P.C, "transaction": tx(), "operative": False},
            S.Charging,
            id="a transaction beats inoperative",
        ),
        pytest.param({"pilot": P.C, "transaction": tx()}, S.Charging, id="pilot C charging"),
        pytest.param({"pilot": P.D, "transaction": tx()}, S.Charging, id="pilot D charging"),
        pytest.param({"pilot": P.B, "transaction": tx()}, S.SuspendedEV, id="pilot B suspended"),
        pytest.param({"pilot": P.A, "transaction": tx()}, S.SuspendedEV, id="unplugged, tx kept"),
        pytest.param(
            {"pilot": P.B, "operative": False, "finishing": True},
            S.Unavailable,
            id="inoperative without transaction beats a plugged EV",
        ),
        pytest.param(
            {"operative": False, "authorization": Authorization("T", 0.0)},
            S.Unavailable,
            id="inoperative beats a waiting tag",
        ),
        pytest.param({"pilot": P.B, "finishing": True}, S.Finishing, id="finishing"),
        pytest.param({"pilot": P.B}, S.Preparing, id="plugged"),
        pytest.param(
            {"authorization": Authorization("T", 0.0)}, S.Preparing, id="tag waits for cable"
        ),
        pytest.param({"finishing": True}, S.Available, id="finishing needs the EV plugged"),
        pytest.param({}, S.Available, id="nothing"),
    ],
)
def test_wanted_status_puts_the_most_important_fact_first(
    facts: dict[str, Any], wanted: Status
) -> None:
    c = set_facts(Connector(1, max_current_a=32, phases=3), **facts)
    assert c.wanted_status() is wanted


# --- error code --------------------------------------------------------------------------------


def test_error_code_is_no_error_without_faults() -> None:
    assert Connector(1, max_current_a=32, phases=3).error_code == "NoError"


def test_error_code_strips_the_pilot_prefix() -> None:
    c = Connector(1, max_current_a=32, phases=3)
    c.faults["pilot:EVCommunicationError"] = "control pilot state E"
    assert c.error_code == "EVCommunicationError"


def test_error_code_is_the_first_fault_raised() -> None:
    c = Connector(1, max_current_a=32, phases=3)
    c.faults["HighTemperature"] = ""
    c.faults["pilot:InternalError"] = ""
    assert c.error_code == "HighTemperature"
