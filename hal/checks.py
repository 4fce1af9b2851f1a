"""What no single device's options show: devices of a station that cannot work together,
what a DC connector's power modules can give, and which options name a device file.

Each problem names the connector (its 0-based place in the list), the role and the
option it is about, so the config loader can put it on the line it was written on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hal.options import DeviceConfig, StationSetup
from hal.registry import device_config

# What one serial line has once, whichever device on it says so.
LINE_SETTINGS = ("baudrate", "parity", "stopbits", "timeout_s")
_SIMULATE = "{driver: sim} to simulate it on purpose"
_EXAMPLES = {
    "controller": "{driver: rapi, port: /dev/ttyAMA0}",
    "meter": "{driver: modbus, model: sdm630, port: /dev/ttyUSB0, unit: 1}",
}


@dataclass(frozen=True)
class DeviceProblem:
    connector: int  # 0-based place in `connectors`
    role: str  # controller, meter, power
    key: str | None  # the option it is about; None: the device itself (or its absence)
    message: str  # what is wrong; what is allowed

    @property
    def path(self) -> str:
        role = f"connectors[{self.connector}].{self.role}"
        return f"{role}.{self.key}" if self.key else role

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class PowerRating:
    """What a connector's power modules deliver together, as far as the YAML tells
    (None: not known before the modules answer)."""

    max_current_a: float | None = None
    max_power_kw: float | None = None
    max_voltage_v: float | None = None
    source: str = ""  # where the figures come from, for messages


def power_rating(device: DeviceConfig) -> PowerRating:
    options = device.options
    if device.driver == "infy":
        count = len(options["modules"])
        amps, kw = options["module_max_current_a"], options["module_max_power_kw"]
        source = f"{count} InfyPower module(s) × {amps:g} A / {kw:g} kW"
        return PowerRating(count * amps, count * kw, None, source)
    if device.driver == "modbus":
        from hal.drivers.modbus_power_map import load_power_map

        power_map = load_power_map(options["model"])
        source = f"the limits of power map {power_map.model!r}"
        return PowerRating(power_map.max_current_a, None, power_map.max_voltage_v, source)
    return PowerRating()


def device_paths(device: DeviceConfig) -> list[tuple[str, str]]:
    """(option, path) of every device file the driver opens: serial ports."""
    options = device.options
    if device.driver == "rapi":
        return [("port", options["port"])]
    if device.driver == "modbus" and "host" not in options:
        return [("port", options["port"])]
    if device.driver == "infy" and options["interface"] == "slcan":
        return [("channel", options["channel"])]
    if device.driver == "pn532":
        return [("port", options["port"])]
    if device.driver == "evdev":
        return [("device", options["device"])]
    return []


def is_real(device: DeviceConfig | None) -> bool:
    return device is not None and device.driver != "sim"


def check_combinations(config: StationSetup) -> list[DeviceProblem]:
    """Problems of the station's devices taken together."""
    problems = _missing_roles(config)
    for i, c in enumerate(config.connectors):
        controller = device_config(c, "controller", config.hal_driver)
        meter = device_config(c, "meter", config.hal_driver)
        assert controller is not None and meter is not None
        if meter.driver == "sim" and controller.driver != "sim" and not config.sim.wire:
            problems.append(DeviceProblem(i, "meter", None, (
                "a simulated meter measures a simulated EV; with controller driver "
                f"{controller.driver!r} use a real meter (or set sim.wire: true)"
            )))  # fmt: skip
        display = getattr(c, "display", None)
        if display is not None and display.driver == "rapi" and controller.driver != "rapi":
            problems.append(DeviceProblem(i, "display", "driver", (
                "the RAPI display is the LCD of the connector's RAPI controller; allowed: "
                "{driver: rapi} with controller {driver: rapi, port: ...}, or {driver: sim}"
            )))  # fmt: skip
    return problems + _shared_lines(config)


def _missing_roles(config: StationSetup) -> list[DeviceProblem]:
    """On a station with real hardware a device left out is not quietly simulated: a
    forgotten controller would otherwise fake an EV on a real charger."""
    if config.sim.wire:  # the whole station is a simulation, asked for in the YAML
        return []
    roles = ("controller", "meter", "power")
    written = [getattr(c, role) for c in config.connectors for role in roles]
    if not any(is_real(device) for device in written):
        return []
    problems = []
    for i, c in enumerate(config.connectors):
        for role in ("controller", "meter"):
            if getattr(c, role) is None:
                message = (
                    f"missing on a station with real devices (connector {c.id}); allowed: "
                    f"a device such as {_EXAMPLES[role]}, or {_SIMULATE}"
                )
                problems.append(DeviceProblem(i, role, None, message))
    return problems


def _shared_lines(config: StationSetup) -> list[DeviceProblem]:
    """Ports, Modbus lines and CAN buses used by more than one device: one RAPI
    controller per port, one unit address per Modbus line, one module address per bus."""
    problems = []
    rapi_ports: dict[str, str] = {}
    serial: dict[str, tuple[str, dict[str, Any]]] = {}  # port → first user, settings
    units: dict[tuple[Any, ...], str] = {}
    modules: dict[tuple[str, str, int], str] = {}
    devices = [(i, role, getattr(c, role)) for i, c in enumerate(config.connectors)
               for role in ("controller", "meter", "power")]  # fmt: skip
    for i, role, device in devices:
        if device is None:
            continue
        where, options = f"connectors[{i}].{role}", device.options
        if device.driver == "rapi":
            port = options["port"]
            if port in rapi_ports:
                problems.append(DeviceProblem(i, role, "port", (
                    f"{port} is already the port of {rapi_ports[port]}; allowed: one RAPI "
                    "controller per serial port (each connector has its own)"
                )))  # fmt: skip
            rapi_ports.setdefault(port, where)
        elif device.driver == "modbus":
            if "host" in options:
                line: tuple[Any, ...] = ("tcp", options["host"], options.get("port", 502))
                shown = f"{options['host']}:{options.get('port', 502)}"
            else:
                line, shown = ("serial", options["port"]), options["port"]
                problems += _line_settings(i, role, where, options, serial)
            unit = options["unit"]
            if (*line, unit) in units:
                problems.append(DeviceProblem(i, role, "unit", (
                    f"unit {unit} on {shown} is already {units[(*line, unit)]}; allowed: "
                    "a unit address of its own for each device on one line"
                )))  # fmt: skip
            units.setdefault((*line, unit), where)
        elif device.driver == "infy":
            bus = (options["interface"], options["channel"])
            for address in options["modules"]:
                if (*bus, address) in modules:
                    problems.append(DeviceProblem(i, role, "modules", (
                        f"module {address} on {bus[1]} is already used by "
                        f"{modules[(*bus, address)]}; allowed: each module address once per bus"
                    )))  # fmt: skip
                modules.setdefault((*bus, address), where)
    for i, role, device in devices:  # a RAPI port is no Modbus line
        if device is not None and device.driver == "modbus" and "host" not in device.options:
            port = device.options["port"]
            if port in rapi_ports:
                problems.append(DeviceProblem(i, role, "port", (
                    f"{port} is the RAPI port of {rapi_ports[port]}; allowed: a serial "
                    "port of its own for the Modbus line"
                )))  # fmt: skip
    return problems


def _line_settings(
    i: int, role: str, where: str, options: dict[str, Any],
    lines: dict[str, tuple[str, dict[str, Any]]],
) -> list[DeviceProblem]:  # fmt: skip
    port = options["port"]
    settings = {k: options.get(k) for k in LINE_SETTINGS}
    first = lines.setdefault(port, (where, settings))
    if first[1] == settings:
        return []
    differ = ", ".join(
        f"{k} {settings[k]} vs {first[1][k]}" for k in LINE_SETTINGS if settings[k] != first[1][k]
    )
    return [DeviceProblem(i, role, None, (
        f"{port} is also used by {first[0]} with other settings ({differ}); one serial "
        "line has one baudrate, parity, stopbits and timeout_s"
    ))]  # fmt: skip
