"""Variable monitors (OCPP 2.0.1 N02-N08) fed readings and the time, without I/O."""

from __future__ import annotations

from chargerd.monitoring.monitors import (
    CLOCK_ALIGNED,
    DELTA,
    HARDWIRED,
    LOWER,
    PERIODIC,
    PRECONFIGURED,
    UPPER,
    Monitor,
    Monitors,
    next_aligned,
)

POWER = "EVSE/1.Power"
T0 = 1_700_000_000.0


def monitor(id: int, type: str, value: float, severity: int = 5, key: str = POWER, **kw) -> Monitor:
    name = key.split(".")[1]
    return Monitor(id, key, {"name": "EVSE", "evse": {"id": 1}}, {"name": name}, type, value,
                   severity, **kw)  # fmt: skip


def with_monitors(*ms: Monitor, **kw) -> Monitors:
    monitors = Monitors(**kw)
    for m in ms:
        monitors.put(m, T0)
    return monitors


def test_upper_threshold_trips_once_when_exceeded_and_clears_when_back():
    ms = with_monitors(monitor(1000, UPPER, 7000))
    assert ms.reading(POWER, 6000.0, T0) == []
    tripped = ms.reading(POWER, 7400.0, T0 + 1)
    assert [(e.trigger, e.actual, e.cleared) for e in tripped] == [("Alerting", 7400.0, False)]
    assert ms.reading(POWER, 7500.0, T0 + 2) == []  # still above: no new event
    cleared = ms.reading(POWER, 6900.0, T0 + 3)
    assert [(e.trigger, e.actual, e.cleared) for e in cleared] == [("Alerting", 6900.0, True)]


def test_lower_threshold_trips_below_the_value():
    ms = with_monitors(monitor(1000, LOWER, 200, key="EVSE/1.ACVoltage"))
    assert ms.reading("EVSE/1.ACVoltage", 230.0, T0) == []
    assert [e.cleared for e in ms.reading("EVSE/1.ACVoltage", 190.0, T0 + 1)] == [False]
    assert [e.cleared for e in ms.reading("EVSE/1.ACVoltage", 231.0, T0 + 2)] == [True]


def test_delta_reports_a_change_of_at_least_the_value_from_the_last_reported():
    ms = with_monitors(monitor(1000, DELTA, 1000))
    assert ms.reading(POWER, 0.0, T0) == []  # the first reading is the reference
    assert ms.reading(POWER, 900.0, T0 + 1) == []
    assert [e.actual for e in ms.reading(POWER, 1100.0, T0 + 2)] == [1100.0]
    assert ms.reading(POWER, 1500.0, T0 + 3) == []  # 400 from the last one reported
    assert [(e.trigger, e.actual) for e in ms.reading(POWER, 0.0, T0 + 4)] == [("Delta", 0.0)]


def test_delta_counts_from_the_value_when_the_monitor_was_set():
    ms = Monitors()
    ms.put(monitor(1000, DELTA, 1000), T0, current=0.0)
    assert [e.actual for e in ms.reading(POWER, 22080.0, T0 + 1)] == [22080.0]


def test_periodic_reports_each_period_from_when_it_was_set():
    ms = with_monitors(monitor(1000, PERIODIC, 10))
    read = {POWER: 3680.0}.get
    assert ms.due(T0 + 9.9, read) == []
    assert [(e.trigger, e.actual) for e in ms.due(T0 + 10, read)] == [("Periodic", 3680.0)]
    assert ms.due(T0 + 15, read) == []
    assert len(ms.due(T0 + 20.5, read)) == 1


def test_clock_aligned_reports_at_multiples_of_the_interval_after_midnight():
    midnight = T0 - T0 % 86400
    ms = Monitors()
    ms.put(monitor(1000, CLOCK_ALIGNED, 900), midnight + 100)
    read = {POWER: 1.0}.get
    assert ms.due(midnight + 899, read) == []
    assert len(ms.due(midnight + 900, read)) == 1
    assert ms.due(midnight + 1000, read) == []
    assert len(ms.due(midnight + 1800, read)) == 1
    assert next_aligned(midnight + 1800, 900) == midnight + 2700


def test_a_periodic_monitor_sends_nothing_without_a_value():
    ms = with_monitors(monitor(1000, PERIODIC, 5))
    assert ms.due(T0 + 5, lambda key: None) == []


def test_monitoring_level_keeps_only_events_of_that_severity_or_more_severe():
    ms = with_monitors(monitor(1000, UPPER, 100, severity=3), monitor(1001, UPPER, 50, severity=8))
    ms.level = 5
    events = ms.reading(POWER, 200.0, T0)
    assert [e.monitor.id for e in events] == [1000]


def test_transaction_monitor_is_silent_outside_a_transaction():
    ms = with_monitors(monitor(1000, UPPER, 100, transaction=True))
    assert ms.reading(POWER, 200.0, T0, in_transaction=False) == []
    assert len(ms.reading(POWER, 200.0, T0 + 1, in_transaction=True)) == 1


FACTORY = (
    monitor(1, LOWER, 10, severity=2, origin=HARDWIRED),
    monitor(2, UPPER, 9000, severity=4, origin=PRECONFIGURED),
)


def test_base_hardwired_only_leaves_only_hardwired_monitors():
    ms = with_monitors(monitor(1000, UPPER, 7000), factory=FACTORY,
                       preconfigured={2: FACTORY[1]})  # fmt: skip
    ms.set_base("HardWiredOnly")
    assert [m.id for m in ms.all()] == [1]


def test_base_factory_default_clears_custom_and_restores_preconfigured_values():
    ms = with_monitors(monitor(1000, UPPER, 7000), factory=FACTORY)
    ms.put(monitor(2, UPPER, 5000, severity=4, origin=PRECONFIGURED), T0)  # changed by the CSMS
    ms.set_base("FactoryDefault")
    assert [(m.id, m.value) for m in ms.all()] == [(1, 10), (2, 9000)]


def test_base_all_brings_preconfigured_back_and_keeps_custom():
    ms = with_monitors(monitor(1000, UPPER, 7000), factory=FACTORY)
    ms.remove(2)
    ms.set_base("All")
    assert [m.id for m in ms.all()] == [1, 2, 1000]


def test_hardwired_monitors_cannot_be_removed():
    ms = with_monitors(factory=FACTORY)
    assert ms.remove(1) is False
    assert [m.id for m in ms.all()] == [1]


def test_duplicate_is_the_same_variable_type_and_severity():
    ms = with_monitors(monitor(1000, UPPER, 7000, severity=5))
    assert ms.duplicate(monitor(0, UPPER, 8000, severity=5)) is not None
    assert ms.duplicate(monitor(0, UPPER, 8000, severity=4)) is None
    assert ms.duplicate(monitor(1000, UPPER, 8000, severity=5)) is None  # replacing itself


def test_event_on_the_wire_names_the_monitor_and_its_origin():
    ms = with_monitors(monitor(1000, UPPER, 7000, severity=2))
    (event,) = ms.reading(POWER, 7200.5, T0)
    data = event.wire(7, "2026-01-01T00:00:00Z", "tx-1")
    assert data == {
        "eventId": 7,
        "timestamp": "2026-01-01T00:00:00Z",
        "trigger": "Alerting",
        "actualValue": "7200.5",
        "eventNotificationType": "CustomMonitor",
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Power"},
        "variableMonitoringId": 1000,
        "transactionId": "tx-1",
    }


def test_delta_needs_a_change_of_more_than_the_value():
    ms = with_monitors(monitor(1000, DELTA, 1000))
    ms.reading(POWER, 0.0, T0)
    assert ms.reading(POWER, 1000.0, T0 + 1) == []  # exactly the delta: not more (N07.FR.18)
    assert [e.actual for e in ms.reading(POWER, 1000.5, T0 + 2)] == [1000.5]


def test_a_tripped_threshold_raised_above_the_value_clears_at_the_next_reading():
    ms = with_monitors(monitor(1000, UPPER, 5000))
    assert [e.cleared for e in ms.reading(POWER, 7000.0, T0)] == [False]
    ms.put(monitor(1000, UPPER, 8000), T0 + 1)  # N07.FR.11: the new threshold clears it
    assert [(e.cleared, e.monitor.value) for e in ms.reading(POWER, 7000.0, T0 + 2)] == [
        (True, 8000)
    ]


def test_a_tripped_threshold_replaced_by_one_still_exceeded_stays_tripped():
    ms = with_monitors(monitor(1000, UPPER, 5000))
    ms.reading(POWER, 7000.0, T0)
    ms.put(monitor(1000, UPPER, 6000), T0 + 1)
    assert ms.reading(POWER, 7000.0, T0 + 2) == []


def test_tripped_thresholds_restored_after_a_restart_clear_when_the_value_is_back():
    before = with_monitors(monitor(1000, UPPER, 5000), monitor(1001, DELTA, 10))
    before.reading(POWER, 7000.0, T0)
    assert before.tripped() == {1000}
    after = with_monitors(monitor(1000, UPPER, 5000), monitor(1001, DELTA, 10))
    after.restore_tripped(before.tripped())
    assert [e.cleared for e in after.reading(POWER, 100.0, T0 + 5) if e.monitor.id == 1000] == [
        True
    ]  # N07.FR.14


def test_a_changed_preconfigured_monitor_becomes_custom():
    ms = with_monitors(factory=FACTORY, preconfigured={2: FACTORY[1]})
    ms.put(monitor(2, UPPER, 5000, severity=4), T0)  # the CSMS changed it (N04.FR.15)
    assert ms.get(2) is not None and ms.get(2).origin == "CustomMonitor"
    assert 2 not in ms.preconfigured
    ms.set_base("FactoryDefault")
    assert ms.get(2) == FACTORY[1]
