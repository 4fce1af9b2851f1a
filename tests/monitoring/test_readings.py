"""The monitorable hardware values, from a meter reading and the board."""

from __future__ import annotations

from pathlib import Path

from chargerd.monitoring.readings import cpu_temperature, evse_values, station_values
from hal.interfaces import MeterReading


def test_evse_values_from_a_three_phase_reading():
    reading = MeterReading(1000.0, 7360.04, (230.0, 231.0, 229.0), (10.0, 11.5, 10.5))
    assert evse_values(2, reading) == {
        "EVSE/2.Power": 7360.0,
        "EVSE/2.ACCurrent": 11.5,
        "EVSE/2.ACVoltage": 230.0,
    }


def test_a_meter_without_voltage_or_current_gives_only_power():
    assert evse_values(1, MeterReading(5.0, 0.0)) == {"EVSE/1.Power": 0.0}


def test_cpu_temperature_from_the_first_thermal_zone(tmp_path: Path):
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "temp").write_text("48250\n")
    assert cpu_temperature(tmp_path) == 48.25
    assert cpu_temperature(tmp_path / "absent") is None


def test_station_values(tmp_path: Path):
    values = station_values(tmp_path, 12.7, thermal=tmp_path / "none")
    assert values["Controller.Uptime"] == 12
    assert values["Controller.StorageAvailable"] > 0
    assert "Controller.Temperature" not in values
