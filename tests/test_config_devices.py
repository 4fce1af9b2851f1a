"""The devices of a whole station: on real hardware nothing is simulated unless asked for,
one port or bus address serves one device, a serial port that is not there yet is a
warning, and `--help` lists the drivers of this version.
"""

from __future__ import annotations

import os
import pty
from collections.abc import Iterator
from pathlib import Path

import pytest
from station_files import station_yaml

from chargerd.cli import main as chargerd_main
from chargerd.config import ConfigError, load_config
from hal.registry import DEVICE_DRIVERS

RAPI0 = "controller: {driver: rapi, port: /dev/ttyAMA0}"
RAPI1 = "controller: {driver: rapi, port: /dev/ttyAMA1}"


def errors(tmp_path: Path, connectors: str, top: str = "") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(station_yaml(tmp_path, connectors, top))
    return caught.value.errors


def at(path: Path, text: str, nth: int = 1) -> str:
    """`{file}:{line}: ` of the `nth` line holding `text`."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return f"{path}:{lines[nth - 1]}: "


def meter(unit: int, line: str = "port: /dev/ttyUSB0") -> str:
    return f"meter: {{driver: modbus, model: sdm630, {line}, unit: {unit}}}"


@pytest.fixture
def serial_port() -> Iterator[str]:
    """A serial device that exists: the far end of a pseudo-terminal."""
    controller, device = pty.openpty()
    try:
        yield os.ttyname(device)
    finally:
        os.close(controller)
        os.close(device)


# --------------------------------------------------------------------------- roles


def test_missing_controller_on_a_station_with_a_real_meter_is_an_error(tmp_path: Path):
    (problem,) = errors(tmp_path, f"- id: 1\n  {meter(1)}\n")
    path = tmp_path / "station.yaml"
    assert problem.startswith(at(path, "- id: 1") + "connectors[0].controller: missing on a ")
    assert "(connector 1)" in problem and "{driver: sim}" in problem


def test_each_connector_missing_a_role_is_named(tmp_path: Path):
    connectors = f"- id: 1\n  {RAPI0}\n  {meter(1)}\n- id: 2\n"
    problems = errors(tmp_path, connectors)
    path = tmp_path / "station.yaml"
    assert [p.split(": missing")[0] for p in problems] == [
        at(path, "- id: 2") + "connectors[1].controller",
        at(path, "- id: 2") + "connectors[1].meter",
    ]


def test_a_simulated_device_asked_for_explicitly_is_fine_beside_real_ones(tmp_path: Path):
    connectors = f"- id: 1\n  controller: {{driver: sim}}\n  {meter(1)}\n"
    (c,) = load_config(station_yaml(tmp_path, connectors)).connectors
    assert c.controller is not None and c.controller.driver == "sim"


def test_a_wholly_simulated_station_needs_no_devices_written(tmp_path: Path):
    config = load_config(station_yaml(tmp_path, "- id: 1\n- id: 2\n"))
    assert [c.controller for c in config.connectors] == [None, None]


def test_a_sim_wire_station_simulates_the_devices_it_does_not_name(tmp_path: Path):
    load_config(station_yaml(tmp_path, f"- id: 1\n  {RAPI0}\n- id: 2\n", "sim: {wire: true}\n"))


def test_a_dc_connector_without_controller_is_an_error(tmp_path: Path):
    power = "power: {driver: infy, interface: socketcan, channel: can0, modules: [0]}"
    problems = errors(tmp_path, f"- id: 1\n  {power}\n")
    missing = [p.split(": ")[1] for p in problems]
    assert missing == ["connectors[0].controller", "connectors[0].meter"]


# --------------------------------------------------------------------------- shared lines


def test_two_connectors_on_one_rapi_port_is_an_error_on_the_second(tmp_path: Path):
    connectors = f"- id: 1\n  {RAPI0}\n  {meter(1)}\n- id: 2\n  {RAPI0}\n  {meter(2)}\n"
    (problem,) = errors(tmp_path, connectors)
    path = tmp_path / "station.yaml"
    assert problem.startswith(at(path, RAPI0, nth=2) + "connectors[1].controller.port: ")
    assert "/dev/ttyAMA0 is already the port of connectors[0].controller" in problem


def test_two_meters_with_one_unit_on_one_serial_line_is_an_error(tmp_path: Path):
    connectors = f"- id: 1\n  {RAPI0}\n  {meter(1)}\n- id: 2\n  {RAPI1}\n  {meter(1)}\n"
    (problem,) = errors(tmp_path, connectors)
    path = tmp_path / "station.yaml"
    assert problem.startswith(at(path, meter(1), nth=2) + "connectors[1].meter.unit: ")
    assert "unit 1 on /dev/ttyUSB0 is already connectors[0].meter" in problem


def test_two_meters_with_one_unit_on_one_tcp_endpoint_is_an_error(tmp_path: Path):
    tcp = "host: 192.0.2.10, port: 502"
    connectors = f"- id: 1\n  {RAPI0}\n  {meter(7, tcp)}\n- id: 2\n  {RAPI1}\n  {meter(7, tcp)}\n"
    (problem,) = errors(tmp_path, connectors)
    assert "connectors[1].meter.unit: unit 7 on 192.0.2.10:502 is already connectors[0]" in problem


def test_meters_with_their_own_units_share_a_line(tmp_path: Path):
    connectors = f"- id: 1\n  {RAPI0}\n  {meter(1)}\n- id: 2\n  {RAPI1}\n  {meter(2)}\n"
    assert len(load_config(station_yaml(tmp_path, connectors)).connectors) == 2


def test_a_power_stage_with_a_meters_unit_on_its_line_is_an_error(tmp_path: Path):
    power = "power: {driver: modbus, model: generic_dc, port: /dev/ttyUSB0, unit: 1}"
    (problem,) = errors(tmp_path, f"- id: 1\n  {RAPI0}\n  {meter(1)}\n  {power}\n")
    assert "connectors[0].power.unit: unit 1 on /dev/ttyUSB0 is already connectors[0]." in problem


def test_a_modbus_line_on_a_rapi_port_is_an_error(tmp_path: Path):
    (problem,) = errors(tmp_path, f"- id: 1\n  {RAPI0}\n  {meter(1, 'port: /dev/ttyAMA0')}\n")
    assert "connectors[0].meter.port: /dev/ttyAMA0 is the RAPI port of connectors[0]" in problem


def test_infy_module_addresses_repeated_across_connectors_are_an_error(tmp_path: Path):
    def infy(modules: str) -> str:
        return f"power: {{driver: infy, interface: socketcan, channel: can0, modules: {modules}}}"

    connectors = (f"- id: 1\n  {RAPI0}\n  {meter(1)}\n  {infy('[0, 1]')}\n"
                  f"- id: 2\n  {RAPI1}\n  {meter(2)}\n  {infy('[1, 2]')}\n")  # fmt: skip
    (problem,) = errors(tmp_path, connectors)
    path = tmp_path / "station.yaml"
    assert problem.startswith(at(path, infy("[1, 2]")) + "connectors[1].power.modules: ")
    assert "module 1 on can0 is already used by connectors[0].power" in problem


def test_check_config_exits_78_on_a_shared_port(tmp_path: Path, capsys):
    connectors = f"- id: 1\n  {RAPI0}\n  {meter(1)}\n- id: 2\n  {RAPI0}\n  {meter(2)}\n"
    path = station_yaml(tmp_path, connectors)
    assert chargerd_main(["check-config", str(path)]) == 78
    assert "connectors[1].controller.port: /dev/ttyAMA0 is already" in capsys.readouterr().err


# --------------------------------------------------------------------------- missing ports


def test_a_serial_port_that_does_not_exist_is_a_warning(tmp_path: Path, serial_port: str, capsys):
    missing = "/dev/ttyUSB-chargerd-missing"
    controller = f"controller: {{driver: rapi, port: {serial_port}}}"
    connectors = f"- id: 1\n  {controller}\n  {meter(1, f'port: {missing}')}\n"
    path = station_yaml(tmp_path, connectors)
    assert chargerd_main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{path}: OK")
    (warning,) = captured.err.splitlines()
    assert warning.startswith(at(path, missing) + "warning: connectors[0].meter.port: ")
    assert f"{missing} does not exist (yet)" in warning


def test_ports_are_not_looked_for_when_the_wire_simulators_replace_them(tmp_path: Path):
    path = station_yaml(tmp_path, f"- id: 1\n  {RAPI0}\n  {meter(1)}\n", "sim: {wire: true}\n")
    assert load_config(path).warnings == ()


# --------------------------------------------------------------------------- --help


@pytest.mark.parametrize("argv", [["--help"], ["check-config", "--help"], ["run", "--help"]])
def test_help_lists_the_drivers_of_each_role(argv: list[str], capsys):
    with pytest.raises(SystemExit) as exited:
        chargerd_main(argv)
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for role, drivers in DEVICE_DRIVERS.items():
        assert f"{role}: {', '.join(drivers)}" in text, (role, text)
