"""`connectors:` the charging outlets, each with its devices (`controller`, `meter`,
`power`, `reader`, `display`), and `hal:` the driver of every device not configured on its own.

Which driver takes which options is hal's table (hal/registry.py); here its errors are
put on the lines they were written on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hal.options import DeviceConfig
from hal.registry import DRIVER_NAMES, check_role_device

from .limits import DC_ONLY, check_limits
from .schema import Checked, Found, Key, Section, check_section, flat_section, mapping
from .source import Node, Problem, index, join, plain, show
from .values import integer_from, one_of

DEVICE_ROLES = ("controller", "meter", "power", "reader", "display")


@dataclass(frozen=True)
class ConnectorConfig:
    id: int
    max_current_a: float = 32.0  # AC: per phase; DC: the output current
    phases: int = 3  # AC only
    controller: DeviceConfig | None = None  # None: the hal.driver default (sim)
    meter: DeviceConfig | None = None
    power: DeviceConfig | None = None  # DC power electronics; None for AC connectors
    reader: DeviceConfig | None = None  # a card reader for this connector; None: none
    display: DeviceConfig | None = None  # the driver-facing screen; None: none
    # DC only (None: as far as the power modules go)
    max_power_kw: float | None = None
    min_voltage_v: float | None = None
    max_voltage_v: float | None = None

    @property
    def dc(self) -> bool:
        """A DC connector: a power module feeds it."""
        return self.power is not None

    def dc_current_a(self, offered_a: float, voltage_v: float) -> float:
        """The current to ask of the power modules at `voltage_v`: the offer, held under
        max_power_kw."""
        if self.max_power_kw is None or voltage_v <= 0:
            return offered_a
        return min(offered_a, self.max_power_kw * 1000 / voltage_v)


KEYS: dict[str, Key] = {
    "id": Key(integer_from(1), required=True),
    # checked by check_device, with a line for every option
    **{role: Key(lambda value: value) for role in DEVICE_ROLES},
    # checked by check_limits: they depend on AC or DC
    **{key: Key(lambda value: value) for key in ("max_current_a", "phases", *DC_ONLY)},
}
_EXAMPLE = "e.g. - {id: 1, max_current_a: 32, phases: 3}"


def check_device(node: Node, path: str, role: str, problems: list[Problem]) -> DeviceConfig | None:
    """`{driver: NAME, option: value, ...}`, checked by hal; each error on its key's line."""
    entries = mapping(node, path, "allowed: a mapping such as {driver: sim}", problems)
    if entries is None:
        return None
    written = {key: plain(child) for key, child in entries.items()}
    device, errors = check_role_device(role, written)
    for key, error in errors:
        line = entries[key].line if key in entries else node.line  # missing: the device's
        problems.append(Problem(line, join(path, key), error))
    return device


def check_connectors(
    node: Node | None, problems: list[Problem], warnings: list[Problem]
) -> list[Checked]:
    if node is None:  # reported as a missing key
        return []
    if not isinstance(node.value, list):
        message = f"{show(node.value)} is not a list; allowed: a list of connectors, "
        problems.append(Problem(node.line, "connectors", message + _EXAMPLE))
        return []
    if not node.value:
        message = f"the list is empty; allowed: at least one connector, {_EXAMPLE}"
        problems.append(Problem(node.line, "connectors", message))
        return []
    connectors = []
    for i, item in enumerate(node.value):
        connector = check_section(item, index("connectors", i), KEYS, problems)
        for role in DEVICE_ROLES:
            if role in connector.nodes:
                path = join(index("connectors", i), role)
                device = check_device(connector.nodes[role], path, role, problems)
                connector.values[role] = device
        check_limits(connector, index("connectors", i), problems, warnings)
        connectors.append(connector)
    # OCPP numbers connectors 1..N without gaps (0 means the whole station).
    count = len(connectors)
    first_use: dict[int, int] = {}
    for i, connector in enumerate(connectors):
        if "id" not in connector.values:
            continue
        number = connector.values["id"]
        line = connector.nodes["id"].line
        path = join(index("connectors", i), "id")
        if number in first_use:
            message = (
                f"{number} is already used by connectors[{first_use[number]}]; "
                f"allowed: each id once, numbered 1..{count}"
            )
            problems.append(Problem(line, path, message))
        elif number > count:
            message = (
                f"{number} leaves a gap; allowed: ids 1..{count} for {count} connectors "
                "(OCPP numbers connectors from 1 without gaps)"
            )
            problems.append(Problem(line, path, message))
        else:
            first_use[number] = i
    return connectors


def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    before = len(problems)
    connectors = check_connectors(node, problems, found.warnings)
    found.connectors = max(1, len(connectors))
    if len(problems) > before:
        return {}
    return {"connectors": tuple(ConnectorConfig(**c.values) for c in connectors)}


SECTION = Section("connectors", read, required=True)


def read_station_display(node: Node | None, found: Found, problems: list[Problem]) -> dict:
    """`display:` the station's own screen (beside the connectors' `display` devices)."""
    if node is None:
        return {}
    device = check_device(node, "display", "display", problems)
    if device is not None and device.driver != "sim":
        message = (
            f"{device.driver!r} is a connector's screen (the LCD of its RAPI controller); "
            "allowed here: {driver: sim}, or connectors[].display: {driver: rapi}"
        )
        problems.append(Problem(node.line, "display.driver", message))
        return {}
    return {"station_display": device} if device is not None else {}


STATION_DISPLAY = Section("display", read_station_display, keys=("driver",))
HAL = flat_section("hal", {"driver": Key(one_of(DRIVER_NAMES), attr="hal_driver")})
