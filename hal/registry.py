"""Drivers chosen by name, per hardware role, with the options each accepts.

`DEVICE_DRIVERS[role][name]` describes a driver's YAML options (checked by the config
loader with file/line errors); `build_hardware()` turns a validated config into devices.
Drivers are imported only when built, so a board loads just the libraries it uses.
Adding a driver = one `DriverSpec` entry here and one builder in `_BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chargerd.config import Config, ConnectorConfig, DeviceConfig
    from hal.interfaces import ConnectorHardware


class OptionError(ValueError):
    pass


@dataclass(frozen=True)
class Option:
    kind: str  # "text", "int", "number", "ints" (a list of whole numbers), "port"
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] | Callable[[], list[str]] = ()
    low: float | None = None
    high: float | None = None

    def allowed(self) -> str:
        choices = self.choices() if callable(self.choices) else self.choices
        if choices:
            return "one of " + ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)
        bounds = ""
        if self.low is not None and self.high is not None:
            bounds = f" from {self.low:g} to {self.high:g}"
        elif self.low is not None:
            bounds = f" ≥ {self.low:g}"
        return {
            "text": "text",
            "int": "a whole number" + bounds,
            "number": "a number" + bounds,
            "ints": "a list of whole numbers" + bounds + ", e.g. [0, 1]",
            "port": "a serial device such as /dev/ttyUSB0, or a TCP port number with host",
        }[self.kind]

    def check(self, value: Any) -> str | None:
        """An error message, or None."""
        ok = {
            "text": isinstance(value, str) and value != "",
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "ints": isinstance(value, list)
            and bool(value)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
            "port": (isinstance(value, str) and value != "")
            or (isinstance(value, int) and not isinstance(value, bool)),
        }[self.kind]
        numbers = value if isinstance(value, list) else [value]
        if ok and self.kind in ("int", "number", "ints"):
            ok = all(
                (self.low is None or v >= self.low) and (self.high is None or v <= self.high)
                for v in numbers
            )
        choices = self.choices() if callable(self.choices) else self.choices
        if ok and choices:
            ok = value in choices
        if ok and self.kind == "ints" and len(set(value)) != len(value):
            return f"{value!r} names an address twice; allowed: {self.allowed()}, each once"
        return None if ok else f"{value!r} is not valid; allowed: {self.allowed()}"


@dataclass(frozen=True)
class DriverSpec:
    options: dict[str, Option] = field(default_factory=dict)
    rule: Callable[[dict[str, Any]], list[tuple[str, str]]] = lambda options: []

    def check(self, options: dict[str, Any]) -> list[tuple[str, str]]:
        """(option, error) for every problem: missing, wrong, or against the driver's rule."""
        errors = []
        for name, option in self.options.items():
            if name not in options:
                if option.required:
                    errors.append((name, f"required key missing; allowed: {option.allowed()}"))
            elif (error := option.check(options[name])) is not None:
                errors.append((name, error))
        return errors or self.rule(options)

    def complete(self, options: dict[str, Any]) -> dict[str, Any]:
        if self.check(options):
            raise OptionError("invalid options")
        defaults = {k: o.default for k, o in self.options.items() if o.default is not None}
        return {**defaults, **options}


def _meter_models() -> list[str]:
    from hal.maps.loader import meter_models

    return meter_models()


def _power_models() -> list[str]:
    from hal.drivers.modbus_power import power_models

    return power_models()


def _modbus_line(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Serial (port is a device) or TCP (host, port is a number)."""
    port = options.get("port")
    if "host" in options:
        if port is not None and not isinstance(port, int):
            return [("port", f"{port!r} is not a TCP port number; allowed: 1..65535 with host")]
        return []
    if port is None:
        return [("port", "required key missing; allowed: a serial device such as /dev/ttyUSB0 "
                 "(or give host: for Modbus TCP)")]  # fmt: skip
    if not isinstance(port, str):
        return [("port", f"{port!r} is a number but no host is given; allowed: a serial device "
                 "such as /dev/ttyUSB0, or host: for Modbus TCP")]  # fmt: skip
    return []


_SERIAL = {
    "port": Option("port"),
    "host": Option("text"),
    "baudrate": Option("int", 9600, choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
    "parity": Option("text", "N", choices=("N", "E", "O")),
    "stopbits": Option("int", 1, choices=(1, 2)),
    "unit": Option("int", required=True, low=1, high=247),
    "timeout_s": Option("number", 1.0, low=0.05, high=30),
}

DEVICE_DRIVERS: dict[str, dict[str, DriverSpec]] = {
    "controller": {
        "sim": DriverSpec(),
        "rapi": DriverSpec(
            {
                "port": Option("text", required=True),
                "baudrate": Option("int", 115200, choices=(9600, 19200, 38400, 57600, 115200)),
                "timeout_s": Option("number", 1.0, low=0.05, high=30),
                "poll_interval_s": Option("number", 5.0, low=0.1, high=300),
            }
        ),
    },
    "meter": {
        "sim": DriverSpec(),
        "modbus": DriverSpec(
            {"model": Option("text", required=True, choices=_meter_models), **_SERIAL},
            _modbus_line,
        ),
    },
    "power": {
        "infy": DriverSpec(
            {
                "interface": Option("text", required=True),
                "channel": Option("text", required=True),
                "bitrate": Option("int", 125000, choices=(125000, 250000, 500000)),
                "modules": Option("ints", required=True, low=0, high=15),
                "target_voltage_v": Option("number", 400.0, low=50, high=1000),
                "poll_interval_s": Option("number", 1.0, low=0.1, high=1.0),
            }
        ),
        "modbus": DriverSpec(
            {
                "model": Option("text", required=True, choices=_power_models),
                "target_voltage_v": Option("number", 400.0, low=50, high=1000),
                **_SERIAL,
            },
            _modbus_line,
        ),
    },
}

# hal.driver: the default for every connector device not configured on its own.
DRIVER_NAMES: tuple[str, ...] = ("sim",)


def device_config(connector: ConnectorConfig, role: str, default: str) -> DeviceConfig | None:
    from chargerd.config import DeviceConfig

    device = getattr(connector, role)
    if device is None and role != "power":
        return DeviceConfig(default)
    return device


async def build_hardware(config: Config) -> Hardware:
    """Build the devices of every connector (and, with sim.wire, their wire simulators)."""
    from hal.builders import build

    return await build(config)


@dataclass
class Hardware:
    """What `build_hardware` returns."""

    connectors: list[ConnectorHardware]
    sim: Any = None  # the object `chargerctl sim` drives, or None on real hardware
    closers: list[Callable[[], Any]] = field(default_factory=list)  # async cleanups

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
