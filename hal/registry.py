"""Drivers chosen by name, per hardware role, with the options each accepts.

`DEVICE_DRIVERS[role][name]` describes a driver's YAML options: `check_role_device` checks
them (the daemon's config loader puts the errors on file lines), `build_hardware()` turns a
validated configuration into devices. Drivers are imported only when built, so a board
loads just the libraries it uses. Adding a driver = one `DriverSpec` entry here and its
construction in `hal/builders.py`; option types and checks are in `hal/options.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hal.options import DeviceConfig, DriverSpec, Option, OptionError, check_device

if TYPE_CHECKING:
    from hal.interfaces import ConnectorHardware
    from hal.options import ConnectorSetup, StationSetup

__all__ = [
    "DEVICE_DRIVERS",
    "DRIVER_NAMES",
    "DeviceConfig",
    "DriverSpec",
    "Hardware",
    "Option",
    "OptionError",
    "build_hardware",
    "check_role_device",
    "device_config",
]


def _meter_models() -> list[str]:
    from hal.maps.loader import meter_models

    return meter_models()


def _power_models() -> list[str]:
    from hal.drivers.modbus_power_map import power_models

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
                # one module's datasheet rating: bounds the connector's DC limits in
                # check-config (at run time the modules report their own)
                "module_max_current_a": Option("number", 100.0, low=1, high=1000),
                "module_max_power_kw": Option("number", 30.0, low=1, high=500),
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
    "reader": {
        # NXP PN532 on a UART (HSU); ISO 14443 type A UIDs as upper-case hex
        "pn532": DriverSpec(
            {
                "port": Option("text", required=True),
                "baudrate": Option("int", 115200, choices=(9600, 19200, 38400, 57600, 115200)),
                "timeout_s": Option("number", 0.5, low=0.05, high=5),
                "poll_interval_s": Option("number", 0.25, low=0.05, high=5),
            }
        ),
        # a USB reader that types the UID as a keyboard (Linux input events)
        "evdev": DriverSpec({"device": Option("text", required=True)}),
    },
    "display": {
        "sim": DriverSpec(),  # remembers its lines (chargerctl status shows them)
        # the OpenEVSE 2x16 LCD, on the connector's RAPI controller line
        "rapi": DriverSpec({"page_s": Option("number", 4.0, low=1, high=60)}),
    },
}

# hal.driver: the default for every connector device not configured on its own.
DRIVER_NAMES: tuple[str, ...] = ("sim",)


def check_role_device(
    role: str, written: Mapping[str, Any]
) -> tuple[DeviceConfig | None, list[tuple[str, str]]]:
    """A connector's `role` device as written in the YAML, checked against that role's
    drivers: (the device or None, [(key, error), ...])."""
    return check_device(DEVICE_DRIVERS[role], written)


def device_config(connector: ConnectorSetup, role: str, default: str) -> DeviceConfig | None:
    """The connector's device for `role`; the station default driver when not configured
    (except power, which only DC connectors have, and a card reader or a display, which are
    optional)."""
    device: DeviceConfig | None = getattr(connector, role, None)
    if device is None and role not in ("power", "reader", "display"):
        return DeviceConfig(default)
    return device


async def build_hardware(config: StationSetup) -> Hardware:
    """Build the devices of every connector (and, with sim.wire, their wire simulators)."""
    from hal.builders import build

    return await build(config)


@dataclass
class Hardware:
    """What `build_hardware` returns."""

    connectors: list[ConnectorHardware]
    sim: Any = None  # the object `chargerctl sim` drives, or None on real hardware
    site_meter: Any = None  # the grid meter (`site.meter`, a Meter), if configured
    station_display: Any = None  # the station's own screen (`display`, a Display), if any
    closers: list[Callable[[], Any]] = field(default_factory=list)  # async cleanups

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
