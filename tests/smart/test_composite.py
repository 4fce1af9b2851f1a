"""The composite schedule, against the worked examples of SMART_CHARGING.md and the rules
of OCPP 1.6 §3.13 / 2.0.1 K (stack levels, kinds, units, validity, TxProfile vs TxDefault)."""

from __future__ import annotations

from datetime import UTC, datetime

from chargerd.smart.engine import SmartCharging
from chargerd.smart.profiles import (
    ChargingProfile,
    ConnectorFacts,
    Kind,
    Period,
    Purpose,
    Schedule,
    Session,
)

T = 1_741_000_000.0  # the request time
CONNECTOR = ConnectorFacts(1, max_current_a=32, phases=3, voltage_v=230)


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def periods(*pairs: tuple[int, float], phases: int | None = None) -> tuple:
    return tuple(Period(start, limit, phases) for start, limit in pairs)


def profile(
    id: int,
    purpose: Purpose,
    *pairs: tuple[int, float],
    stack: int = 0,
    kind: Kind = Kind.ABSOLUTE,
    start: float | None = None,
    duration: int | None = None,
    connector: int = 1,
    unit: str = "A",
    phases: int | None = None,
    **more,
) -> ChargingProfile:
    schedule = Schedule(unit, periods(*pairs, phases=phases), start=start, duration_s=duration)
    return ChargingProfile(id, stack, purpose, kind, schedule, connector=connector, **more)


def session(started_at: float = T - 3600, transaction: str = "tx-1") -> dict[int, Session]:
    return {1: Session(1, transaction, started_at, started_at)}


def table(engine: SmartCharging, start: float, duration: int, sessions, unit="A", connector=1):
    return [(p.start_s, p.limit_a) for p in engine.composite(connector, start, duration, sessions,
                                                              unit)]  # fmt: skip


def test_example_1_the_highest_stack_level_wins_then_the_next_applies_when_it_ends():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 16), stack=0, start=T - 600),
        profile(2, Purpose.TX_DEFAULT, (0, 12), (120, 20), stack=1, start=T - 10, duration=300),
    ])  # fmt: skip
    assert table(engine, T, 600, session()) == [(0, 12), (110, 20), (290, 16)]


def test_example_2_tx_profile_replaces_tx_default_and_the_station_maximum_caps():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.STATION_MAX, (0, 20), (60, 10), start=T, connector=0),
        profile(2, Purpose.TX_DEFAULT, (0, 16), stack=5, kind=Kind.RELATIVE),
        profile(3, Purpose.TX, (0, 32), (120, 8), start=T, transaction_id="tx-1"),
    ])  # fmt: skip
    assert table(engine, T, 300, session()) == [(0, 20), (60, 10), (120, 8)]
    assert table(engine, T, 300, {}) == [(0, 16), (60, 10)]


def test_example_3_watts_become_amperes_over_the_phases_at_the_nominal_voltage():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 11040), (3600, 4140), start=T, unit="W", phases=3),
    ])  # fmt: skip
    assert table(engine, T, 7200, session()) == [(0, 16), (3600, 6)]
    engine.install(profile(2, Purpose.STATION_MAX, (0, 10), start=T, connector=0), T)
    assert table(engine, T, 7200, session()) == [(0, 10), (3600, 6)]
    assert table(engine, T, 7200, session(), unit="W") == [(0, 6900), (3600, 4140)]


def test_example_3_watts_without_number_phases_on_a_single_phase_connector():
    one_phase = ConnectorFacts(1, max_current_a=32, phases=1, voltage_v=230)
    engine = SmartCharging([one_phase], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 2300), start=T, unit="W"),
    ])  # fmt: skip
    assert table(engine, T, 60, session()) == [(0, 10)]


def test_number_phases_of_a_period_counts_on_a_three_phase_connector():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 2300), start=T, unit="W", phases=1),
    ])  # fmt: skip
    assert table(engine, T, 60, session()) == [(0, 10)]


def test_the_voltage_is_the_connectors_not_a_constant():
    us = ConnectorFacts(1, max_current_a=48, phases=1, voltage_v=120)
    engine = SmartCharging([us], None, [profile(1, Purpose.TX_DEFAULT, (0, 2400), unit="W")])
    assert table(engine, T, 60, {1: Session(1, "tx", T, T)}) == [(0, 20)]


DAILY_NIGHT = dict(kind=Kind.RECURRING, recurrency="Daily", start=at("2025-01-10T22:00:00"),
                   duration=28800)  # fmt: skip


def night_engine() -> SmartCharging:
    return SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 32), start=at("2025-01-01T00:00:00")),
        profile(2, Purpose.TX_DEFAULT, (0, 8), (14400, 16), stack=1, **DAILY_NIGHT),
    ])  # fmt: skip


def test_example_4_a_daily_recurrence_across_midnight():
    start = at("2025-03-05T21:00:00")
    got = table(night_engine(), start, 36000, session(start - 60))
    assert got == [(0, 32), (3600, 8), (18000, 16), (32400, 32)]


def test_example_4_todays_instance_began_yesterday():
    start = at("2025-03-06T01:00:00")
    assert table(night_engine(), start, 10800, session(start - 60)) == [(0, 8), (3600, 16)]


def test_a_recurrence_is_counted_in_utc_across_a_daylight_saving_change():
    # Europe moves its clocks on 2025-03-30; the recurrence stays at 22:00 UTC.
    for day in ("2025-03-29", "2025-03-30", "2025-03-31"):
        start = at(f"{day}T21:00:00")
        got = table(night_engine(), start, 36000, session(start - 60))
        assert got == [(0, 32), (3600, 8), (18000, 16), (32400, 32)], day


def test_a_weekly_recurrence_applies_on_its_weekday_only():
    monday = at("2025-03-03T08:00:00")
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 10), kind=Kind.RECURRING, recurrency="Weekly",
                start=monday, duration=3600),
    ])  # fmt: skip
    next_monday = monday + 7 * 86400
    assert table(engine, next_monday - 60, 7200, session(monday)) == [(0, 32), (60, 10), (3660, 32)]
    assert table(engine, monday + 86400, 3600, session(monday)) == [(0, 32)]


def test_example_5_relative_counts_from_the_transaction_start_and_4_a_stays_4_a():
    started = T - 300
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX, (0, 4), (900, 16), kind=Kind.RELATIVE, transaction_id="tx-1"),
    ])  # fmt: skip
    assert table(engine, T, 1200, session(started)) == [(0, 4), (600, 16)]


def test_absolute_without_start_schedule_counts_from_the_transaction_start():
    engine = SmartCharging([CONNECTOR], None, [profile(1, Purpose.TX_DEFAULT, (0, 10), (600, 20))])
    assert table(engine, T, 1200, session(T - 300)) == [(0, 10), (300, 20)]


def test_zero_amperes_is_a_limit_not_an_absent_one():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 0), (60, 16), start=T),
    ])  # fmt: skip
    assert table(engine, T, 120, session()) == [(0, 0), (60, 16)]


def test_without_profiles_the_composite_is_one_period_at_the_connector_maximum():
    engine = SmartCharging([CONNECTOR], None)
    got = engine.composite(1, T, 0, {})
    assert [(p.start_s, p.limit_a, p.source) for p in got] == [(0, 32, "connector")]


def test_equal_neighbours_are_merged():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 16), (60, 16), (120, 10), start=T),
    ])  # fmt: skip
    assert table(engine, T, 300, session()) == [(0, 16), (120, 10)]


def test_a_period_starting_inside_the_window_counts():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 16), start=T + 100, duration=50),
    ])  # fmt: skip
    assert table(engine, T, 300, session()) == [(0, 32), (100, 16), (150, 32)]


def test_valid_from_and_valid_to_bound_when_a_profile_counts():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 16), start=T - 1000, valid_from=T + 60,
                valid_to=T + 180),
    ])  # fmt: skip
    assert table(engine, T, 300, session()) == [(0, 32), (60, 16), (180, 32)]


def test_a_tx_default_on_the_connector_beats_one_for_all_connectors_at_the_same_level():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 20), connector=0),
        profile(2, Purpose.TX_DEFAULT, (0, 10), connector=1),
    ])  # fmt: skip
    assert table(engine, T, 60, session()) == [(0, 10)]


def test_a_tx_profile_of_another_transaction_does_not_apply():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX, (0, 8), transaction_id="old"),
    ])  # fmt: skip
    assert table(engine, T, 60, session(transaction="new")) == [(0, 32)]


def test_min_charging_rate_is_never_a_floor():
    schedule = Schedule("A", periods((0, 4)), start=T, min_rate=8)
    engine = SmartCharging([CONNECTOR], None, [
        ChargingProfile(1, 0, Purpose.TX_DEFAULT, Kind.ABSOLUTE, schedule, connector=1),
    ])  # fmt: skip
    assert table(engine, T, 60, session()) == [(0, 4)]


def test_the_grid_connection_composite_is_the_station_maximum():
    two = [CONNECTOR, ConnectorFacts(2, max_current_a=32, phases=3)]
    engine = SmartCharging(two, None, [
        profile(1, Purpose.STATION_MAX, (0, 40), (600, 20), start=T, connector=0),
    ])  # fmt: skip
    got = engine.composite(0, T, 1200, {})
    assert [(p.start_s, p.limit_a, p.source) for p in got] == [(0, 40, "csms"), (600, 20, "csms")]
    assert table(engine, T, 60, {}, connector=0, unit="W") == [(0, 40 * 690)]


def test_asked_within_a_second_of_a_boundary_each_period_start_appears_once():
    engine = SmartCharging([CONNECTOR], None, [
        profile(1, Purpose.TX_DEFAULT, (0, 10), (60, 20), start=T),
    ])  # fmt: skip
    assert table(engine, T + 59.6, 120, session()) == [(0, 20)]
    assert table(engine, T + 59.2, 120, session()) == [(0, 10), (1, 20)]
