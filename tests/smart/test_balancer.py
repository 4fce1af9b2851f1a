"""Sharing the site's grid connection between charging sessions: at least 6 A each or
paused, by arrival; undrawn current goes to the others; the grid meter's budget and its
fallback; no flapping around 6 A."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chargerd.smart import balancer
from chargerd.smart.engine import SmartCharging
from chargerd.smart.profiles import (
    ChargingProfile,
    ConnectorFacts,
    Kind,
    Period,
    Purpose,
    Schedule,
    Session,
    SiteLimit,
)

T = 1_741_000_000.0


def station(site_a: float | None, count: int = 3, **site) -> SmartCharging:
    connectors = [ConnectorFacts(n, max_current_a=32, phases=3) for n in range(1, count + 1)]
    return SmartCharging(connectors, None if site_a is None else SiteLimit(site_a, **site))


def ev(connector: int, arrived: float = 0, drawing: float | None = None, suspended=False):
    return Session(connector, f"tx-{connector}", T + arrived, T + arrived, drawing, suspended)


def sessions(*evs: Session) -> dict[int, Session]:
    return {s.connector: s for s in evs}


def offers(limits) -> dict[int, float]:
    return {c: limit.offered_a for c, limit in limits.items()}


def test_one_session_takes_the_whole_site_up_to_its_connector():
    limits = station(40).limits(T, sessions(ev(1)), None)
    assert (limits[1].offered_a, limits[1].source) == (32, "connector")


def test_a_new_session_gets_its_share_once_the_first_ev_followed_the_lower_offer():
    engine = station(32)
    engine.limits(T, sessions(ev(1)), None)
    limits = engine.limits(T + 1, sessions(ev(1, drawing=32), ev(2, arrived=1)), None)
    assert (limits[1].offered_a, limits[2].offered_a) == (16, 0)  # lowered first
    limits = engine.limits(T + 2, sessions(ev(1, drawing=16), ev(2, arrived=1)), None)
    assert (limits[1].offered_a, limits[2].offered_a) == (16, 16)
    assert limits[1].source == limits[2].source == "site"


def test_three_sessions_share_evenly_and_never_above_the_site():
    limits = station(20).limits(T, sessions(ev(1), ev(2, 1), ev(3, 2)), None)
    assert sum(offers(limits).values()) <= 20
    assert len({round(a, 1) for a in offers(limits).values()}) == 1


def test_when_the_site_is_short_the_last_arrival_pauses_instead_of_getting_less_than_6_a():
    limits = station(16).limits(T, sessions(ev(1), ev(2, 1), ev(3, 2)), None)
    assert offers(limits) == {1: 8, 2: 8, 3: 0}
    assert (limits[3].limit_a, limits[3].source) == (0, "site")


def test_the_order_of_arrival_not_the_connector_number_decides_who_waits():
    limits = station(10, count=2).limits(T, sessions(ev(1, arrived=5), ev(2, arrived=0)), None)
    assert offers(limits) == {1: 0, 2: 10}


def test_a_leaving_ev_gives_its_share_back():
    engine = station(32)
    engine.limits(T, sessions(ev(1), ev(2, 1)), None)
    assert engine.limits(T + 2, sessions(ev(2, 1)), None)[2].offered_a == 32


def test_an_ev_drawing_less_than_offered_leaves_the_rest_to_the_others():
    engine = station(32, count=2)
    engine.limits(T, sessions(ev(1), ev(2, 1)), None)  # 16 / 16
    limits = engine.limits(T + 10, sessions(ev(1, drawing=10), ev(2, 1, drawing=16)), None)
    assert limits[1].offered_a == 10 + balancer.HEADROOM_A
    assert limits[2].offered_a == 32 - 10 - balancer.HEADROOM_A


def test_a_suspended_ev_keeps_the_minimum_offer_so_it_can_resume():
    engine = station(32, count=2)
    engine.limits(T, sessions(ev(1), ev(2, 1)), None)
    limits = engine.limits(T + 10, sessions(ev(1, suspended=True), ev(2, 1)), None)
    assert offers(limits) == {1: 6, 2: 26}


def test_undrawn_current_nobody_else_needs_stays_offered():
    engine = station(32, count=2)
    engine.limits(T, sessions(ev(1)), None)
    limits = engine.limits(T + 10, sessions(ev(1, drawing=10)), None)
    assert limits[1].offered_a == 32


def test_with_a_grid_meter_the_budget_is_what_the_building_leaves_minus_the_margin():
    engine = station(40, count=2)
    # The grid meter sees 30 A: the chargers' 10 A and 20 A of the building's own.
    limits = engine.limits(T, sessions(ev(1, drawing=10)), grid_a=30)
    assert (limits[1].offered_a, limits[1].source) == (40 - 20 - 1, "site")


def test_the_margin_is_configurable():
    limits = station(40, count=2, margin_a=3).limits(T, sessions(ev(1, drawing=0)), grid_a=20)
    assert limits[1].offered_a == 40 - 20 - 3


def test_a_building_taking_everything_pauses_the_sessions():
    limits = station(40, count=2).limits(T, sessions(ev(1, drawing=6)), grid_a=41)
    assert (limits[1].offered_a, limits[1].source) == (0, "site")


def test_a_failed_grid_meter_gives_each_session_the_fallback_current_within_the_site():
    engine = station(10, count=2, fallback_current_a=6)
    limits = engine.limits(T, sessions(ev(1), ev(2, 1)), grid_a=None, grid_ok=False)
    assert offers(limits) == {1: 6, 2: 0}
    engine = station(40, count=2, fallback_current_a=8)
    limits = engine.limits(T, sessions(ev(1), ev(2, 1)), grid_a=3, grid_ok=False)
    assert offers(limits) == {1: 8, 2: 8}


def test_a_paused_session_resumes_only_with_6_a_and_the_hysteresis_free():
    engine = station(40, count=2, margin_a=0)
    both = sessions(ev(1, drawing=6), ev(2, 1, drawing=6))
    assert offers(engine.limits(T, both, grid_a=40 - 12 + 12)) == {1: 6, 2: 6}  # 12 A free
    paused = sessions(ev(1, drawing=6), ev(2, 1, drawing=0))
    assert offers(engine.limits(T + 1, paused, grid_a=40 - 11 + 6)) == {1: 11, 2: 0}
    assert offers(engine.limits(T + 2, paused, grid_a=40 - 12.5 + 6))[2] == 0  # 6.5 A: not yet
    resumed = engine.limits(T + 3, paused, grid_a=40 - 13 + 6)
    assert offers(resumed) == {1: 6.5, 2: 6.5}


def test_a_csms_limit_below_6_a_pauses_that_session_and_the_others_get_the_rest():
    engine = station(32, count=2)
    low = Schedule("A", (Period(0, 4),))
    engine.install(ChargingProfile(1, 0, Purpose.TX_DEFAULT, Kind.RELATIVE, low, connector=1), T)
    limits = engine.limits(T, sessions(ev(1), ev(2, 1)), None)
    assert (limits[1].limit_a, limits[1].offered_a, limits[1].source) == (4, 0, "csms")
    assert limits[2].offered_a == 32


def test_the_csms_station_maximum_is_shared_like_the_site():
    engine = station(None, count=2)
    cap = Schedule("A", (Period(0, 20),))
    engine.install(ChargingProfile(1, 0, Purpose.STATION_MAX, Kind.RELATIVE, cap), T)
    limits = engine.limits(T, sessions(ev(1), ev(2, 1)), None)
    assert [(lim.offered_a, lim.source) for lim in limits.values()] == [(10, "csms")] * 2


def test_an_idle_connector_offers_only_what_the_sessions_leave():
    limits = station(40, count=2).limits(T, sessions(ev(1)), None)
    assert (limits[2].limit_a, limits[2].source) == (8, "site")


# --- properties ------------------------------------------------------------------------

demand = st.builds(
    lambda c, arrived, cap, want, paused: balancer.Demand(c, arrived, cap, min(want, cap), paused),
    st.integers(1, 6), st.floats(0, 100), st.floats(0, 80), st.floats(0, 80), st.booleans(),
)  # fmt: skip


@given(st.floats(0, 200), st.lists(demand, max_size=6, unique_by=lambda d: d.connector))
def test_shares_are_0_or_at_least_6_a_within_each_cap_and_never_above_the_budget(budget, demands):
    shares = balancer.share(budget, demands)
    assert sum(shares.values()) <= budget
    for d in demands:
        assert shares[d.connector] == 0 or MIN <= shares[d.connector] <= d.cap_a


@given(st.floats(0, 200), st.lists(demand, max_size=6, unique_by=lambda d: d.connector))
def test_a_session_waits_only_when_no_later_arrival_charges(budget, demands):
    shares = balancer.share(budget, demands)
    order = sorted(demands, key=lambda d: (d.arrived_at, d.connector))
    for i, d in enumerate(order):
        if shares[d.connector] == 0 and d.cap_a >= MIN and not d.paused:
            assert all(shares[later.connector] == 0 for later in order[i + 1 :])


MIN = 6.0
ev_state = st.tuples(st.floats(0, 100), st.none() | st.floats(0, 40), st.booleans())


@given(
    st.floats(6, 120),
    st.dictionaries(st.integers(1, 4), ev_state, max_size=4),
    st.none() | st.floats(0, 150),
    st.booleans(),
)
def test_limits_never_offer_between_0_and_6_a_nor_more_than_the_budget(site_a, evs, grid, ok):
    site = SiteLimit(site_a, fallback_current_a=8)
    engine = SmartCharging([ConnectorFacts(n, 32, 3) for n in range(1, 5)], site)
    now = {c: ev(c, arrived, drawing, drawing == 0) for c, (arrived, drawing, _) in evs.items()}
    drawn = sum(s.drawing_a or 0 for s in now.values())
    budget = balancer.site_budget(site, grid if ok else None, drawn)
    for step in range(2):  # the second round sees the first one's offers
        limits = engine.limits(T + step, now, grid, ok)
        assert all(lim.offered_a == 0 or lim.offered_a >= MIN for lim in limits.values())
        assert sum(limits[c].offered_a for c in now) <= budget
        if not ok:
            assert all(limits[c].offered_a <= 8 for c in now)
