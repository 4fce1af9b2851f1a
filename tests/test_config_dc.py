"""DC connectors' limits in the station YAML: a connector with a `power:` device is DC;
its current goes up to what the power modules give, its power is in kW, its voltage range
holds the modules' target voltage, and `phases` means nothing there.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from station_files import station_yaml

from chargerd.cli import main as chargerd_main
from chargerd.config import ConfigError, ConnectorConfig, DeviceConfig, load_config

REPO = Path(__file__).resolve().parents[1]
RAPI = "controller: {driver: rapi, port: /dev/ttymxc1}"
RTU = "meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 1}"
INFY = "power: {driver: infy, interface: socketcan, channel: can0, modules: [0, 1]}"


def dc_station(tmp_path: Path, connector: str) -> Path:
    """A station with one connector, written as the YAML lines after `- id: 1`."""
    return station_yaml(tmp_path, "- id: 1\n" + textwrap.indent(textwrap.dedent(connector), "  "))


def errors(tmp_path: Path, connector: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(dc_station(tmp_path, connector))
    return caught.value.errors


def at(path: Path, text: str) -> str:
    """`{file}:{line}: ` of the line holding `text`."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return f"{path}:{number}: "
    raise AssertionError(f"{text!r} not in {path}")


def dc(*lines: str) -> str:
    return "\n".join([RAPI, RTU, INFY, *lines]) + "\n"


def test_the_shipped_dc60_example_loads_at_150_a_and_60_kw(capsys):
    path = REPO / "config" / "examples" / "imx-dc-charger.yaml"
    (c,) = load_config(path).connectors
    assert c.dc
    assert (c.max_current_a, c.max_power_kw, c.min_voltage_v, c.max_voltage_v) == (
        150.0,
        60.0,
        150.0,
        1000.0,
    )
    assert chargerd_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "connector 1: DC 150 A, 60 kW, 150..1000 V; controller rapi" in out


def test_dc_current_above_the_80_a_of_ac_is_accepted(tmp_path: Path):
    (c,) = load_config(dc_station(tmp_path, dc("max_current_a: 180"))).connectors
    assert c.max_current_a == 180.0


def test_dc_current_above_what_the_modules_give_is_an_error_on_its_line(tmp_path: Path):
    (problem,) = errors(tmp_path, dc("max_current_a: 250"))
    path = tmp_path / "station.yaml"
    assert problem.startswith(at(path, "max_current_a: 250") + "connectors[0].max_current_a: ")
    assert "250 A is more than the power modules give" in problem
    assert "2 InfyPower module(s) × 100 A / 30 kW: 200 A" in problem


def test_module_rating_from_the_yaml_bounds_the_connector(tmp_path: Path):
    power = ("power: {driver: infy, interface: socketcan, channel: can0, modules: [0, 1, 2],"
             " module_max_current_a: 40, module_max_power_kw: 20}")  # fmt: skip
    text = "\n".join([RAPI, RTU, power, "max_current_a: 121", "max_power_kw: 61"]) + "\n"
    problems = errors(tmp_path, text)
    assert any("max_current_a: 121 A is more than" in p and ": 120 A)" in p for p in problems)
    assert any("max_power_kw: 61 kW is more than" in p and ": 60 kW)" in p for p in problems)


def test_dc_power_above_the_modules_total_is_an_error(tmp_path: Path):
    (problem,) = errors(tmp_path, dc("max_power_kw: 75"))
    path = tmp_path / "station.yaml"
    assert problem.startswith(at(path, "max_power_kw: 75") + "connectors[0].max_power_kw: 75 kW")
    assert "allowed: a number up to 60" in problem


def test_modbus_power_stage_bounds_current_and_voltage_by_its_map(tmp_path: Path):
    power = "power: {driver: modbus, model: generic_dc, port: /dev/ttyUSB1, unit: 3}"
    text = "\n".join([RAPI, RTU, power, "max_current_a: 201", "max_voltage_v: 1100"]) + "\n"
    problems = errors(tmp_path, text)
    assert len(problems) == 2, problems
    assert "connectors[0].max_current_a: 201 A is more than the power modules give" in problems[0]
    assert "'generic_dc'" in problems[0] and ": 200 A)" in problems[0]
    assert "connectors[0].max_voltage_v: 1100 V is more than" in problems[1]


def test_target_voltage_outside_the_connector_range_is_an_error_on_its_line(tmp_path: Path):
    power = ("power: {driver: infy, interface: socketcan, channel: can0, modules: [0],"
             " target_voltage_v: 920}")  # fmt: skip
    text = "\n".join([RAPI, RTU, power, "min_voltage_v: 200", "max_voltage_v: 500"]) + "\n"
    (problem,) = errors(tmp_path, text)
    path = tmp_path / "station.yaml"
    where = at(path, "target_voltage_v: 920")
    assert problem.startswith(where + "connectors[0].power.target_voltage_v: ")
    assert "920 V is outside the connector's voltage range; allowed: 200..500 V" in problem


def test_default_target_voltage_must_lie_in_the_range_too(tmp_path: Path):
    (problem,) = errors(tmp_path, dc("min_voltage_v: 500"))  # target_voltage_v is 400 by default
    path = tmp_path / "station.yaml"
    where = at(path, "power: {driver: infy")
    assert problem.startswith(where + "connectors[0].power.target_voltage_v")


def test_voltage_range_must_be_ordered(tmp_path: Path):
    (problem,) = errors(tmp_path, dc("min_voltage_v: 500", "max_voltage_v: 500"))
    assert "connectors[0].max_voltage_v: 500 is not above min_voltage_v (500)" in problem


def test_phases_on_a_dc_connector_is_ignored_with_a_warning_on_its_line(tmp_path: Path, capsys):
    path = dc_station(tmp_path, dc("phases: 3"))
    config = load_config(path)
    (warning,) = [w for w in config.warnings if "connectors[0].phases" in w]
    assert warning.startswith(at(path, "phases: 3") + "warning: connectors[0].phases: ignored")
    assert chargerd_main(["check-config", str(path)]) == 0
    assert warning in capsys.readouterr().err


def test_dc_keys_on_an_ac_connector_are_errors(tmp_path: Path):
    text = "\n".join(["max_power_kw: 22", "min_voltage_v: 200", "max_voltage_v: 500"]) + "\n"
    problems = errors(tmp_path, text)
    assert [p.split(": ")[1] for p in problems] == [
        "connectors[0].max_power_kw",
        "connectors[0].min_voltage_v",
        "connectors[0].max_voltage_v",
    ]
    assert all("only for a DC connector" in p for p in problems)


def test_ac_current_keeps_its_pilot_range(tmp_path: Path):
    (problem,) = errors(tmp_path, "max_current_a: 150\n")
    assert "connectors[0].max_current_a: 150 is out of range; " in problem
    assert problem.endswith("allowed: a number from 6 to 80")


def test_the_dc_setpoint_current_is_held_under_max_power_kw():
    power = DeviceConfig("infy", {"modules": [0, 1]})
    c = ConnectorConfig(id=1, max_current_a=150, power=power, max_power_kw=60)
    assert c.dc_current_a(150, 400) == 150
    assert c.dc_current_a(150, 800) == 75  # 60 kW / 800 V
    assert ConnectorConfig(id=1, max_current_a=150, power=power).dc_current_a(150, 800) == 150
