"""The engine's profile store (checks, replacement, clearing, ends and expiry), external
limits, the limits it hands the hardware, when it wakes next, and the property that the
composite never exceeds a winning profile or the connector."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargerd.smart.engine import SmartCharging
from chargerd.smart.profiles import (
    ChargingProfile,
    ConnectorFacts,
    Kind,
    Period,
    Purpose,
    Rejection,
    Schedule,
    Session,
    SiteLimit,
    profile_from_dict,
    profile_to_dict,
)

T = 1_741_000_000.0
CONNECTORS = [ConnectorFacts(1, 32, 3), ConnectorFacts(2, 16, 1)]
RUNNING = {1: "tx-1"}


def schedule(*pairs: tuple[int, float], unit="A", start: float | None = None, **more) -> Schedule:
    return Schedule(unit, tuple(Period(s, lim) for s, lim in pairs), start=start, **more)


def default(id=1, stack=0, connector=1, limit=16.0, **more) -> ChargingProfile:
    return ChargingProfile(id, stack, Purpose.TX_DEFAULT, Kind.RELATIVE,
                           schedule((0, limit)), connector=connector, **more)  # fmt: skip


def engine(*profiles: ChargingProfile, site: SiteLimit | None = None) -> SmartCharging:
    return SmartCharging(CONNECTORS, site, profiles, max_stack_level=5, max_periods=3,
                         max_profiles=4)  # fmt: skip


def charging(started: float = T - 100) -> dict[int, Session]:
    return {1: Session(1, "tx-1", started, started)}


# --- check -----------------------------------------------------------------------------


def test_a_valid_profile_passes():
    assert engine().check(default(), T, RUNNING) is None


def test_check_names_what_is_wrong():
    tx = ChargingProfile(1, 0, Purpose.TX, Kind.RELATIVE, schedule((0, 10)), connector=1)
    cases = {
        Rejection.UNKNOWN_CONNECTOR: default(connector=3),
        Rejection.STATION_MAX_ON_CONNECTOR: replace(default(), purpose=Purpose.STATION_MAX),
        Rejection.TX_ON_STATION: replace(tx, connector=0),
        Rejection.NO_TRANSACTION: replace(tx, connector=2),
        Rejection.OTHER_TRANSACTION: replace(tx, transaction_id="tx-old"),
        Rejection.EXTERNAL_FROM_CSMS: replace(default(), purpose=Purpose.EXTERNAL),
        Rejection.STACK_LEVEL: default(stack=6),
        Rejection.NO_PERIODS: replace(default(), schedule=schedule()),
        Rejection.TOO_MANY_PERIODS: replace(default(), schedule=schedule(*[(i, 6) for i in
                                                                           range(4)])),  # fmt: skip
        Rejection.FIRST_PERIOD: replace(default(), schedule=schedule((10, 6))),
        Rejection.PERIOD_ORDER: replace(default(), schedule=schedule((0, 6), (60, 8), (60, 9))),
        Rejection.UNIT: replace(default(), schedule=schedule((0, 6), unit="kW")),
        Rejection.NEGATIVE_LIMIT: replace(default(), schedule=schedule((0, -1))),
        Rejection.RECURRENCE: replace(default(), kind=Kind.RECURRING, recurrency="Daily"),
        Rejection.DURATION: replace(default(), schedule=schedule((0, 6), duration_s=-5)),
        Rejection.VALIDITY: default(valid_to=T - 1),
    }
    for reason, profile in cases.items():
        assert engine().check(profile, T, RUNNING) is reason, reason


def test_a_tx_profile_for_the_running_transaction_passes_with_or_without_its_id():
    tx = ChargingProfile(1, 0, Purpose.TX, Kind.RELATIVE, schedule((0, 10)), connector=1)
    assert engine().check(tx, T, RUNNING) is None
    assert engine().check(replace(tx, transaction_id="tx-1"), T, RUNNING) is None


def test_too_many_profiles_unless_the_new_one_replaces_one():
    full = engine(*(default(id=i, stack=i) for i in range(4)))
    assert full.check(default(id=9, stack=5), T, RUNNING) is Rejection.TOO_MANY_PROFILES
    assert full.check(default(id=2, stack=5), T, RUNNING) is None  # same id
    assert full.check(default(id=9, stack=3), T, RUNNING) is None  # same slot


def test_a_csms_profile_cannot_take_an_external_limits_id():
    e = engine()
    external = e.set_external(1, 10, "EMS")
    assert e.check(default(id=external.id), T, RUNNING) is Rejection.ID_TAKEN


# --- the store -------------------------------------------------------------------------


def test_same_id_replaces():
    e = engine(default(id=1, limit=16))
    assert e.install(default(id=1, stack=2, limit=10), T) == [default(id=1, limit=16)]
    assert [p.stack_level for p in e.profiles()] == [2]


def test_same_stack_level_purpose_and_connector_replaces_and_is_reported_as_same_slot():
    e = engine(default(id=1))
    assert e.same_slot(default(id=2)) == [default(id=1)]
    e.install(default(id=2, limit=8), T)
    assert [p.id for p in e.profiles()] == [2]


def test_a_tx_profile_without_id_is_bound_to_the_running_transaction_and_ends_with_it():
    e = engine()
    tx = ChargingProfile(7, 0, Purpose.TX, Kind.RELATIVE, schedule((0, 10)), connector=1)
    e.install(tx, T, RUNNING)
    assert e.profiles(ids=[7])[0].transaction_id == "tx-1"
    assert [p.id for p in e.transaction_ended("tx-1")] == [7]
    assert e.profiles() == []


def test_clear_by_id_or_by_criteria_where_stack_level_0_is_a_value():
    e = engine(default(id=1, stack=0), default(id=2, stack=1), default(id=3, stack=0, connector=0))
    assert [p.id for p in e.clear(stack_level=0, connector=1)] == [1]
    assert [p.id for p in e.clear(id=3)] == [3]
    assert e.clear(id=42) == []
    assert [p.id for p in e.clear()] == [2]


def test_the_csms_cannot_clear_external_limits():
    e = engine(default(id=1))
    e.set_external(0, 20, "SO")
    assert [p.id for p in e.clear()] == [1]
    assert e.clear(purpose=Purpose.TX_DEFAULT) == []
    assert e.external == {0: (20, "SO")}
    assert [p.purpose for p in e.profiles()] == [Purpose.EXTERNAL]


def test_external_limits_per_connector_and_their_clearing():
    e = engine()
    e.set_external(1, 10, "EMS")
    e.set_external(0, 30, "SO")
    assert e.external == {1: (10, "EMS"), 0: (30, "SO")}
    assert [p.connector for p in e.clear_external(1)] == [1]
    e.set_external(2, 8, "Other")
    assert len(e.clear_external(None)) == 2 and e.external == {}


def test_expired_profiles_are_removed():
    e = engine(default(id=1, valid_to=T + 10), default(id=2, stack=1))
    assert e.expire(T) == []
    assert [p.id for p in e.expire(T + 10)] == [1]


def test_a_profile_survives_its_plain_form():
    p = ChargingProfile(5, 2, Purpose.TX, Kind.RECURRING,
                        Schedule("W", (Period(0, 7000, 1), Period(60, 0)), start=T, duration_s=600,
                                 min_rate=6),
                        connector=1, recurrency="Weekly", valid_from=T, valid_to=T + 9,
                        transaction_id="tx-1", source="CSO")  # fmt: skip
    assert profile_from_dict(profile_to_dict(p)) == p


# --- limits and time -------------------------------------------------------------------


def test_example_5_below_6_a_the_limit_shows_and_nothing_is_offered_until_the_rise():
    started = T - 300
    tx = ChargingProfile(1, 0, Purpose.TX, Kind.RELATIVE, schedule((0, 4), (900, 16)),
                         connector=1, transaction_id="tx-1")  # fmt: skip
    e = engine(tx)
    now = e.limits(T, charging(started), None)[1]
    assert (now.limit_a, now.offered_a, now.source) == (4, 0, "csms")
    assert e.next_change(T, charging(started)) == started + 900
    later = e.limits(started + 900, charging(started), None)[1]
    assert (later.limit_a, later.offered_a, later.source) == (16, 16, "csms")


def test_the_lowest_of_csms_external_and_connector_binds():
    e = engine(default(limit=20))
    assert e.limits(T, charging(), None)[1] == _limit(20, "csms")
    e.set_external(1, 12, "EMS")
    assert e.limits(T, charging(), None)[1] == _limit(12, "external")
    e.clear_external(1)
    e.install(default(id=2, stack=1, limit=40), T)
    assert e.limits(T, charging(), None)[1] == _limit(32, "connector")


def test_an_external_limit_on_the_station_is_shared_by_its_connectors():
    e = engine()
    e.set_external(0, 10, "SO")
    assert [lim.limit_a for lim in e.limits(T, {}, None).values()] == [10, 10]
    limits = e.limits(T, charging(), None)
    assert (limits[1], limits[2]) == (_limit(10, "external"), _limit(0, "external"))


def test_next_change_sees_period_boundaries_and_validity_and_nothing_when_flat():
    assert engine(default()).next_change(T, charging()) is None
    fixed = ChargingProfile(1, 0, Purpose.TX_DEFAULT, Kind.ABSOLUTE,
                            schedule((0, 10), (600, 20), start=T - 100), connector=1,
                            valid_to=T + 3000)  # fmt: skip
    e = engine(fixed)
    assert e.next_change(T, charging()) == T + 500
    assert e.next_change(T + 500, charging()) == T + 3000


def test_a_schedule_waiting_for_a_transaction_does_not_wake_an_idle_station():
    e = engine(ChargingProfile(1, 0, Purpose.TX_DEFAULT, Kind.RELATIVE,
                               schedule((0, 10), (600, 20)), connector=1))  # fmt: skip
    assert e.next_change(T, {}) is None


def test_the_composite_includes_the_site_share_and_external_limits():
    e = engine(site=SiteLimit(20))
    sessions = {1: Session(1, "a", T, T), 2: Session(2, "b", T + 1, T + 1)}
    e.limits(T, sessions, None)
    got = e.composite(1, T, 60, sessions)
    assert [(p.limit_a, p.source) for p in got] == [(10, "site")]
    e.set_external(1, 8, "EMS")
    assert [(p.limit_a, p.source) for p in e.composite(1, T, 60, sessions)] == [(8, "external")]


def _limit(a: float, source: str):
    from chargerd.smart.profiles import Limit

    return Limit(a, a if a >= 6 else 0, source)


# --- property: the composite never exceeds a winning profile nor the connector --------

def draft(purpose, connector, stack, start, duration, limits, gaps, unit, phases, tx):
    periods = tuple(
        Period(sum(gaps[:i]), lim * (230 if unit == "W" else 1), phases)
        for i, lim in enumerate(limits)
    )
    return ChargingProfile(
        0, stack, purpose, Kind.ABSOLUTE,
        Schedule(unit, periods, start=T + start, duration_s=duration),
        connector=0 if purpose is Purpose.STATION_MAX else connector,
        transaction_id=tx if purpose is Purpose.TX else None,
    )  # fmt: skip


drafts = st.builds(
    draft,
    st.sampled_from([Purpose.STATION_MAX, Purpose.TX_DEFAULT, Purpose.TX]),
    st.sampled_from([0, 1]), st.integers(0, 3), st.integers(-2000, 2000),
    st.none() | st.integers(0, 3000), st.lists(st.integers(0, 40), min_size=3, max_size=3),
    st.lists(st.integers(1, 900), min_size=3, max_size=3), st.sampled_from(["A", "W"]),
    st.sampled_from([None, 1, 3]), st.sampled_from(["tx-1", "tx-old"]),
)  # fmt: skip


def covering(profile: ChargingProfile, t: float) -> float | None:
    """Independent of the engine: the profile's limit in A at t on a 3-phase 230 V
    connector, None outside its schedule."""
    offset = t - profile.schedule.start
    duration = profile.schedule.duration_s
    if offset < 0 or (duration is not None and offset >= duration):
        return None
    period = [p for p in profile.schedule.periods if p.start_s <= offset][-1]
    if profile.schedule.unit == "A":
        return period.limit
    return period.limit / ((period.number_phases or 3) * 230)


def best(profiles: list[ChargingProfile], t: float) -> float | None:
    ranked = [((p.stack_level, p.connector), covering(p, t)) for p in profiles]
    ranked = [(rank, lim) for rank, lim in ranked if lim is not None]
    return max(ranked, key=lambda r: r[0])[1] if ranked else None


@settings(max_examples=200)
@given(st.lists(drafts, max_size=6), st.lists(st.integers(0, 3599), min_size=1, max_size=8))
def test_the_composite_is_the_least_of_the_winning_profiles_and_the_connector(found, offsets):
    e = SmartCharging(CONNECTORS, None, max_stack_level=3, max_periods=3, max_profiles=99)
    for n, profile in enumerate(found):
        if profile.purpose is not Purpose.TX or profile.connector == 1:
            e.install(replace(profile, id=n + 1), T)
    installed = e.profiles()
    periods = e.composite(1, T, 3600, charging())
    assert periods and periods[0].start_s == 0
    for offset in offsets:
        t = T + offset
        got = [p.limit_a for p in periods if p.start_s <= offset][-1]
        of = {purpose: [p for p in installed if p.purpose is purpose] for purpose in Purpose}
        tx = best([p for p in of[Purpose.TX] if p.transaction_id == "tx-1"], t)
        tx_or_default = tx if tx is not None else best(of[Purpose.TX_DEFAULT], t)
        expected = [32, best(of[Purpose.STATION_MAX], t), tx_or_default]
        # never above a winning profile nor the connector, and no lower than they say
        assert got == pytest.approx(min(x for x in expected if x is not None), abs=1e-6)
