"""`hal.builders.build()` from YAML configs, in-process: simulated stations, real drivers
pointed at wire simulators (`sim: {wire: true}`), device option validation, check-config.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from station_files import station_yaml

from chargerd.cli import main as chargerd_main
from chargerd.config import Config, ConfigError, DeviceConfig, load_config
from hal.builders import HardwareConfigError, WireSimulation, build
from hal.drivers.infy import InfyPower
from hal.drivers.modbus_bus import ModbusBus
from hal.drivers.modbus_meter import ModbusMeter
from hal.drivers.rapi import RapiController
from hal.interfaces import HalEvent, PilotChanged, PilotState
from hal.maps.loader import meter_models
from hal.registry import Hardware
from hal.sim.controller import SimController
from hal.sim.meter import EnergyRegisterStore, SimMeter
from hal.sim.station import SimulatedStation

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 5.0

RAPI = "controller: {driver: rapi, port: /dev/ttyAMA0, baudrate: 115200, timeout_s: 0.3}"
RTU = "meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 1, timeout_s: 0.3}"
TCP = "meter: {driver: modbus, model: sdm630, host: 192.0.2.10, port: 502, unit: 2, timeout_s: 0.3}"


def load(tmp_path: Path, connectors: str, top: str = "") -> Config:
    return load_config(station_yaml(tmp_path, connectors, top))


def errors(tmp_path: Path, connectors: str, top: str = "") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, connectors, top)
    return caught.value.errors


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the file holding `text`."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


class Events:
    """An event sink a test can wait on."""

    def __init__(self) -> None:
        self.items: list[HalEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: HalEvent) -> None:
        self.items.append(event)
        self._arrived.set()

    async def wait(self, expected: HalEvent) -> None:
        async with asyncio.timeout(WAIT_S):
            while expected not in self.items:
                self._arrived.clear()
                await self._arrived.wait()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def fd_targets(fds: set[str]) -> list[str]:
    out = []
    for fd in sorted(fds):
        try:
            out.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    return out


def driver_threads() -> list[str]:
    """Threads the drivers start (the RAPI reader, python-can notifiers, Infy senders)."""
    return [
        t.name
        for t in threading.enumerate()
        if t.is_alive() and t.name.startswith(("rapi-reader", "infy-", "can.notifier"))
    ]


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


@pytest.fixture
async def built() -> AsyncIterator[Callable[[Config], Any]]:
    """build(config) whose devices are started with an Events sink; all stopped and the
    hardware closed at the end (if the test did not do it itself)."""
    made: list[tuple[Hardware, Events, list[Any]]] = []

    async def make(config: Config, *, start: bool = True) -> tuple[Hardware, Events]:
        hardware = await build(config)
        events = Events()
        started: list[Any] = []
        made.append((hardware, events, started))
        if start:
            for hw in hardware.connectors:
                for device in (hw.controller, hw.meter, hw.power):
                    if device is not None:
                        await device.start(events)
                        started.append(device)
        return hardware, events

    yield make
    for hardware, _, started in made:
        for device in reversed(started):
            await device.stop()
        started.clear()
        await hardware.close()


async def stop_all(hardware: Hardware) -> None:
    """As the daemon's shutdown: every device stopped, then the hardware closed."""
    for hw in hardware.connectors:
        for device in (hw.controller, hw.meter, hw.power):
            if device is not None:
                await device.stop()
    await hardware.close()


# --------------------------------------------------------------------------- sim


async def test_sim_config_builds_the_simulated_station(tmp_path: Path, built):
    config = load(tmp_path, "- {id: 1}\n- {id: 2, phases: 1}\n")
    hardware, events = await built(config)
    station = hardware.sim
    assert isinstance(station, SimulatedStation)
    assert [hw.connector for hw in hardware.connectors] == [1, 2]
    for hw in hardware.connectors:
        assert isinstance(hw.controller, SimController)
        assert isinstance(hw.meter, SimMeter)
        assert hw.controller is station.controller(hw.connector)
        assert hw.meter is station.meter(hw.connector)
        assert hw.power is None and hw.dc_target_voltage_v is None
    await events.wait(PilotChanged(2, PilotState.A))
    station.plug(2)  # `chargerctl sim plug 2`
    await events.wait(PilotChanged(2, PilotState.B))
    assert (await hardware.connectors[1].meter.read()).voltage_v == (230.0,)


def test_simulated_meter_with_a_real_controller_and_no_wire_is_refused(tmp_path: Path):
    (problem,) = errors(tmp_path, f"- id: 1\n  {RAPI}\n  meter: {{driver: sim}}\n")
    path = tmp_path / "station.yaml"
    line = line_of(path, "meter: {driver: sim}")
    assert problem.startswith(f"{path}:{line}: connectors[0].meter: ")
    assert "sim.wire" in problem


async def test_build_refuses_devices_that_cannot_work_together(tmp_path: Path):
    """The same checks guard `build()` for a configuration that did not come from a file."""
    config = load(tmp_path, f"- id: 1\n  {RAPI}\n  {RTU}\n")
    (c,) = config.connectors
    simulated_meter = replace(config, connectors=(replace(c, meter=DeviceConfig("sim")),))
    with pytest.raises(HardwareConfigError, match=r"connectors\[0\]\.meter: .*sim\.wire"):
        await build(simulated_meter)


async def test_simulated_meter_with_a_rapi_controller_is_fine_with_wire(tmp_path: Path, built):
    """With sim.wire the simulated meter measures the EV behind the simulated RAPI line."""
    config = load(tmp_path, f"- id: 1\n  {RAPI}\n  meter: {{driver: sim}}\n", "sim: {wire: true}\n")
    hardware, events = await built(config)
    wire = hardware.sim
    assert isinstance(wire, WireSimulation)
    (hw,) = hardware.connectors
    assert isinstance(hw.controller, RapiController)
    assert hw.meter is wire.world.meter(1)
    await events.wait(PilotChanged(1, PilotState.A))
    wire.plug(1)
    await events.wait(PilotChanged(1, PilotState.B))
    await hw.controller.offer_current(16)
    await events.wait(PilotChanged(1, PilotState.C))
    assert (await hw.meter.read()).current_a == (16.0, 16.0, 16.0)


# --------------------------------------------------------------------------- sim.wire


AC_WIRE = f"""\
- id: 1
  {RAPI}
  {RTU}
- id: 2
  controller: {{driver: rapi, port: /dev/ttyAMA1}}
  {TCP}
"""


async def test_wire_points_the_real_drivers_at_started_simulators(tmp_path: Path, built):
    register = EnergyRegisterStore(tmp_path / "state")
    register.save(1, 4321.0)
    register.close()
    config = load(tmp_path, AC_WIRE, "sim: {wire: true}\n")
    hardware, events = await built(config)
    wire = hardware.sim
    assert isinstance(wire, WireSimulation)
    one, two = hardware.connectors

    assert isinstance(one.controller, RapiController) and isinstance(two.controller, RapiController)
    assert one.controller.port == wire.rapi[1].port != "/dev/ttyAMA0"
    assert two.controller.port == wire.rapi[2].port != "/dev/ttyAMA1"
    assert os.path.exists(one.controller.port)
    assert (one.controller.timeout_s, one.controller.max_current_a) == (0.3, 32)

    assert isinstance(one.meter, ModbusMeter) and isinstance(two.meter, ModbusMeter)
    rtu, unit1 = wire.meter_servers[1]
    tcp, unit2 = wire.meter_servers[2]
    assert (rtu.transport, unit1, tcp.transport, unit2) == ("rtu", 1, "tcp", 2)
    assert one.meter.where == f"meter sdm630 unit 1 on {rtu.port}"  # the pty, not ttyUSB0
    assert two.meter.where == f"meter sdm630 unit 2 on 127.0.0.1:{tcp.port}"

    # the register of the simulated world, read through Modbus RTU / TCP
    assert (await one.meter.read()).energy_wh == pytest.approx(4321.0, abs=0.01)
    assert (await two.meter.read()).energy_wh == 0.0

    # `chargerctl sim plug 1`: the EV behind the RAPI line, seen through the driver
    await events.wait(PilotChanged(1, PilotState.A))
    wire.plug(1)
    await events.wait(PilotChanged(1, PilotState.B))
    assert PilotChanged(2, PilotState.B) not in events.items
    await one.controller.offer_current(16)
    await events.wait(PilotChanged(1, PilotState.C))
    reading = await one.meter.read()
    assert reading.current_a == pytest.approx((16.0, 16.0, 16.0))
    assert reading.voltage_v == pytest.approx((230.0, 230.0, 230.0))


async def test_wire_dc_connector_gets_infy_modules_on_a_virtual_bus(tmp_path: Path, built):
    connectors = f"""\
    - id: 1
      max_current_a: 80
      {RAPI}
      {RTU}
      power: {{driver: infy, interface: socketcan, channel: can0, modules: [0, 1],
              target_voltage_v: 400}}
    """
    config = load(tmp_path, connectors, "sim: {wire: true}\n")
    hardware, _ = await built(config)
    (hw,) = hardware.connectors
    assert isinstance(hw.power, InfyPower)
    assert (hw.power.bus.interface, hw.power.bus.channel) == ("virtual", "chargerd-sim-1")
    assert hw.power.modules == [0, 1] and hw.dc_target_voltage_v == 400
    assert sorted(hw.power.capabilities) == [0, 1]  # both simulated modules answered
    # what the daemon does when the contactor closes: setpoint, then switch on
    await hw.power.set_output(400.0, 80.0)
    await hw.power.switch(True)
    assert hw.power.setpoints == {0: (400.0, 40.0), 1: (400.0, 40.0)}
    await hw.power.switch(False)


async def test_close_stops_every_simulator_and_driver(tmp_path: Path):
    connectors = f"""\
    - id: 1
      {RAPI}
      {RTU}
      power: {{driver: infy, interface: socketcan, channel: can0, modules: [0]}}
    - id: 2
      controller: {{driver: rapi, port: /dev/ttyAMA1}}
      {TCP}
    """
    config = load(tmp_path, connectors, "sim: {wire: true}\n")
    fds, tasks = open_fds(), other_tasks()
    hardware = await build(config)
    events = Events()
    for hw in hardware.connectors:
        for device in (hw.controller, hw.meter, hw.power):
            if device is not None:
                await device.start(events)
    wire = hardware.sim
    ports = [d.port for d in wire.rapi.values()] + [wire.meter_servers[1][0].port]
    await hardware.connectors[0].meter.read()
    await hardware.connectors[1].meter.read()
    assert driver_threads()
    assert open_fds() - fds

    await stop_all(hardware)
    await asyncio.sleep(0)
    assert other_tasks() - tasks == set()
    assert driver_threads() == []
    assert not any(bus.name in ports for bus in ModbusBus._registry.values())
    leaked = fd_targets(open_fds() - fds)
    assert leaked == [], leaked


async def test_wire_meter_register_is_persisted_when_the_hardware_closes(tmp_path: Path):
    """The simulated meter behind the wire keeps its register over a restart, as the sim
    meter does (hal/sim/meter.py: written while energy flows, and on stop)."""
    config = load(tmp_path, f"- id: 1\n  {RAPI}\n  {RTU}\n", "sim: {wire: true}\n")
    hardware = await build(config)
    events = Events()
    (hw,) = hardware.connectors
    await hw.controller.start(events)
    hardware.sim.plug(1)
    await hw.controller.offer_current(32)
    await events.wait(PilotChanged(1, PilotState.C))
    await asyncio.sleep(0.2)
    await hw.controller.offer_current(0)
    await events.wait(PilotChanged(1, PilotState.B))
    last = (await hw.meter.read()).energy_wh  # what the station books as meterStop
    assert last > 0
    await stop_all(hardware)
    stored = EnergyRegisterStore(tmp_path / "state")
    try:
        assert stored.load(1) >= last - 0.01, "energy register lost over a restart"
    finally:
        stored.close()


async def test_shipped_sim_wire_yaml_builds_and_answers(tmp_path: Path, built):
    overrides = [f"storage.dir={tmp_path / 'state'}", f"control.socket={tmp_path / 'c.sock'}"]
    config = load_config(REPO / "config" / "sim-wire.yaml", overrides)
    hardware, events = await built(config)
    assert isinstance(hardware.sim, WireSimulation)
    for hw in hardware.connectors:
        assert isinstance(hw.controller, RapiController)
        assert isinstance(hw.meter, ModbusMeter)
        assert (await hw.meter.read()).energy_wh >= 0
        await events.wait(PilotChanged(hw.connector, PilotState.A))


async def test_real_hardware_config_builds_drivers_without_touching_ports(tmp_path: Path, built):
    config = load(tmp_path, f"- id: 1\n  {RAPI}\n  {RTU}\n")
    hardware, _ = await built(config, start=False)
    assert hardware.sim is None
    (hw,) = hardware.connectors
    assert isinstance(hw.controller, RapiController) and hw.controller.port == "/dev/ttyAMA0"
    assert isinstance(hw.meter, ModbusMeter) and hw.meter.where.endswith("on /dev/ttyUSB0")


async def test_two_meters_on_one_line_with_different_settings_is_a_config_error(tmp_path: Path):
    """One RS-485 line has one baud rate: the daemon must refuse this as a configuration
    error (exit 78 with a message), not crash with a ValueError traceback."""
    connectors = """\
    - id: 1
      meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 1, baudrate: 9600}
    - id: 2
      meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 2, baudrate: 19200}
    """
    try:
        config = load(tmp_path, connectors)
    except ConfigError as exc:  # caught by the validation: fine too
        assert any("baudrate" in line for line in exc.errors), exc.errors
        return
    try:
        hardware = await build(config)
    except HardwareConfigError as exc:
        assert "baudrate" in str(exc)
        return
    except ValueError as exc:  # run_station catches HardwareConfigError and OSError only
        pytest.fail(f"build() raised a bare {type(exc).__name__}: {exc}")
    finally:  # a half-built station leaves the first meter's bus registered: drop it
        ModbusBus._registry.pop(("serial", "/dev/ttyUSB0"), None)
    await hardware.close()
    pytest.fail("two meters with different baud rates on one line were accepted")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("device", "missing"),
    [
        ("controller: {driver: rapi, baudrate: 115200}", "port"),
        ("meter: {driver: modbus, port: /dev/ttyUSB0, unit: 1}", "model"),
        ("meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB0}", "unit"),
        ("meter: {driver: modbus, model: sdm630, unit: 1}", "port"),
        ("power: {driver: infy, channel: can0, modules: [0]}", "interface"),
        ("power: {driver: infy, interface: socketcan, modules: [0]}", "channel"),
        ("power: {driver: infy, interface: socketcan, channel: can0}", "modules"),
        ("power: {driver: modbus, port: /dev/ttyUSB1, unit: 3}", "model"),
        ("power: {driver: modbus, model: generic_dc, port: /dev/ttyUSB1}", "unit"),
        ("meter: {model: sdm630}", "driver"),
    ],
)
def test_each_driver_names_its_required_options(tmp_path: Path, device: str, missing: str):
    problems = errors(tmp_path, f"- id: 1\n  {device}\n")
    path = tmp_path / "station.yaml"
    role = device.split(":")[0]
    line = line_of(path, device)
    expected = f"{path}:{line}: connectors[0].{role}.{missing}: required key missing; allowed: "
    assert any(p.startswith(expected) for p in problems), problems


def test_modbus_port_number_without_host_is_an_error_on_its_line(tmp_path: Path):
    connectors = """\
    - id: 1
      meter:
        driver: modbus
        model: sdm630
        port: 502
        unit: 1
    """
    problems = errors(tmp_path, connectors)
    path = tmp_path / "station.yaml"
    line = line_of(path, "port: 502")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: connectors[0].meter.port: 502 is a number but")
    assert "host" in problems[0]


def test_modbus_tcp_port_must_be_a_number(tmp_path: Path):
    device = "meter: {driver: modbus, model: sdm630, host: 10.0.0.5, port: /dev/ttyUSB0, unit: 1}"
    (problem,) = errors(tmp_path, f"- id: 1\n  {device}\n")
    assert "connectors[0].meter.port: '/dev/ttyUSB0' is not a TCP port number" in problem


def test_unknown_meter_model_lists_the_models(tmp_path: Path):
    device = "meter: {driver: modbus, model: sdm999, port: /dev/ttyUSB0, unit: 1}"
    (problem,) = errors(tmp_path, f"- id: 1\n  {device}\n")
    path = tmp_path / "station.yaml"
    assert problem.startswith(f"{path}:{line_of(path, 'sdm999')}: connectors[0].meter.model: ")
    assert "'sdm999' is not valid; allowed: one of " in problem
    for model in meter_models():
        assert repr(model) in problem, (model, problem)
    assert {"sdm630", "sdm72d", "abb_b23", "em340"} <= set(meter_models())


def test_unknown_power_model_lists_the_maps(tmp_path: Path):
    device = "power: {driver: modbus, model: nope, port: /dev/ttyUSB1, unit: 3}"
    (problem,) = errors(tmp_path, f"- id: 1\n  {device}\n")
    assert "connectors[0].power.model: 'nope' is not valid" in problem
    assert "'generic_dc'" in problem and "'generic_dc_holding'" in problem


@pytest.mark.parametrize("modules", ["[0, 99]", "[-1]", "[]", "0", "[0, 1.5]", "[true]"])
def test_infy_module_addresses_are_checked(tmp_path: Path, modules: str):
    device = f"power: {{driver: infy, interface: socketcan, channel: can0, modules: {modules}}}"
    (problem,) = errors(tmp_path, f"- id: 1\n  {device}\n")
    path = tmp_path / "station.yaml"
    assert problem.startswith(f"{path}:{line_of(path, 'modules')}: connectors[0].power.modules: ")
    assert "allowed: a list of whole numbers from 0 to 15" in problem


def test_repeated_infy_module_address_is_a_config_error(tmp_path: Path):
    """`modules: [0, 0]` cannot work (InfyPower refuses repeated addresses): it must be
    reported by the configuration check, not crash the daemon when it builds the driver."""
    device = "power: {driver: infy, interface: socketcan, channel: can0, modules: [0, 0]}"
    problems = errors(tmp_path, f"- id: 1\n  {device}\n")
    assert any("connectors[0].power.modules" in p for p in problems), problems


def test_unknown_driver_and_option_are_reported_with_what_is_allowed(tmp_path: Path):
    connectors = """\
    - id: 1
      controller: {driver: openevse, port: /dev/ttyAMA0}
      meter: {driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 1, baud: 9600}
      power: {driver: infy, interface: socketcan, channel: can0, modules: [0], bitrate: 1000}
    """
    problems = errors(tmp_path, connectors)
    text = "\n".join(problems)
    assert re.search(r"connectors\[0\]\.controller\.driver: 'openevse' .*'sim', 'rapi'", text)
    assert re.search(r"connectors\[0\]\.meter\.baud: unknown key; .*did you mean 'baudrate'", text)
    assert re.search(r"connectors\[0\]\.power\.bitrate: 1000 is not valid; .*125000", text)


def test_defaults_fill_the_options_not_given(tmp_path: Path):
    connectors = f"""\
    - id: 1
      {RAPI}
      meter: {{driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 1}}
      power: {{driver: infy, interface: socketcan, channel: can0, modules: [0, 1]}}
    """
    (c,) = load(tmp_path, connectors).connectors
    assert c.controller is not None and c.meter is not None and c.power is not None
    assert c.controller.options["poll_interval_s"] == 5.0
    assert {k: c.meter.options[k] for k in ("baudrate", "parity", "stopbits", "timeout_s")} == {
        "baudrate": 9600,
        "parity": "N",
        "stopbits": 1,
        "timeout_s": 1.0,
    }
    assert c.power.options["bitrate"] == 125000
    assert c.power.options["target_voltage_v"] == 400.0


# --------------------------------------------------------------------------- check-config


def test_check_config_prints_each_connectors_drivers(tmp_path: Path, capsys):
    connectors = f"""\
    - id: 1
      {RAPI}
      {RTU}
    - id: 2
      max_current_a: 80
      controller: {{driver: rapi, port: /dev/ttymxc1}}
      {TCP}
      power: {{driver: infy, interface: socketcan, channel: can0, modules: [0, 1]}}
    - id: 3
      phases: 1
    """
    path = station_yaml(tmp_path, connectors, "sim: {wire: true}\n")
    assert chargerd_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}: OK") and "wire simulators in-process" in out[0]
    assert out[1:] == [
        "  connector 1: 32 A, 3 phase(s); controller rapi, meter modbus sdm630",
        "  connector 2: DC 80 A; controller rapi, meter modbus sdm630, power infy",
        "  connector 3: 32 A, 1 phase(s); controller sim, meter sim",
    ]


@pytest.mark.parametrize(
    "name", ["sim-wire.yaml", "examples/rpi-ac-wallbox.yaml", "examples/imx-dc-charger.yaml"]
)
def test_shipped_configs_pass_check_config(name: str, capsys):
    path = REPO / "config" / name
    assert chargerd_main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "controller rapi, meter modbus sdm630" in out
    if "dc" in name:
        assert "power infy" in out


def test_check_config_reports_device_option_errors_and_exits_78(tmp_path: Path, capsys):
    device = "meter: {driver: modbus, model: sdm630, port: 502, unit: 1}"
    path = station_yaml(tmp_path, f"- id: 1\n  {device}\n")
    assert chargerd_main(["check-config", str(path)]) == 78
    err = capsys.readouterr().err
    assert f"{path}:{line_of(path, device)}: connectors[0].meter.port: 502 is a number" in err
