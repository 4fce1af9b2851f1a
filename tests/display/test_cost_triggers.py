"""The triggerMeterValue of a 1.6 costmsg RunningCost, fed the time, energy, power and
status, without I/O."""

from __future__ import annotations

import pytest

from chargerd.ocpp16.cost_triggers import MeterTrigger

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z


def test_at_time_asks_once_when_the_time_comes():
    trigger = MeterTrigger.from_json({"atTime": "2026-01-01T12:00:10Z"})
    assert trigger.check(T0 + 9, 0, 0, "Charging") == []
    assert trigger.check(T0 + 10, 0, 0, "Charging") == ["atTime"]
    assert trigger.check(T0 + 11, 0, 0, "Charging") == []


def test_at_energy_asks_once_when_the_transaction_took_that_much():
    trigger = MeterTrigger.from_json({"atEnergykWh": 5})
    assert trigger.check(T0, 4999, 7000, "Charging") == []
    assert trigger.check(T0 + 1, 5000, 7000, "Charging") == ["atEnergykWh"]
    assert trigger.check(T0 + 2, 6000, 7000, "Charging") == []


def test_at_power_asks_each_time_the_power_crosses_the_value():
    trigger = MeterTrigger.from_json({"atPowerkW": 3.5})
    assert trigger.check(T0, 0, 7000, "Charging") == []  # where it starts: no crossing
    assert trigger.check(T0 + 1, 0, 1000, "SuspendedEV") == ["atPowerkW"]
    assert trigger.check(T0 + 2, 0, 1200, "SuspendedEV") == []
    assert trigger.check(T0 + 3, 0, 7000, "Charging") == ["atPowerkW"]


def test_at_status_asks_when_the_connector_enters_a_listed_status():
    trigger = MeterTrigger.from_json({"atCPStatus": ["SuspendedEV", "Finishing"]})
    assert trigger.check(T0, 0, 0, "Charging") == []
    assert trigger.check(T0 + 1, 0, 0, "SuspendedEV") == ["atCPStatus"]
    assert trigger.check(T0 + 2, 0, 0, "SuspendedEV") == []
    assert trigger.check(T0 + 3, 0, 0, "Charging") == []
    assert trigger.check(T0 + 4, 0, 0, "SuspendedEV") == ["atCPStatus"]


def test_an_empty_trigger_asks_nothing_and_a_malformed_one_is_refused():
    assert MeterTrigger.from_json({}).empty
    with pytest.raises((TypeError, ValueError)):
        MeterTrigger.from_json({"atCPStatus": "Charging"})
    with pytest.raises(ValueError):
        MeterTrigger.from_json({"atTime": "noon"})
