"""A connector's electrical limits, which depend on what it is.

AC (no `power:` device): `max_current_a` per phase, 6..80 A (the pilot's range), and
`phases`. DC (a `power:` device feeds it): `max_current_a` up to what the power modules
give together, `max_power_kw`, and the output voltage range `min_voltage_v` ..
`max_voltage_v`, which must hold the modules' `target_voltage_v`; `phases` means nothing
there and is ignored with a warning (older files wrote it).
"""

from __future__ import annotations

from typing import Any

from hal.checks import power_rating
from hal.options import DeviceConfig

from .schema import Checked
from .source import Node, Problem, join
from .values import Invalid, number_in, one_of, positive_number

AC_CURRENT = number_in(6, 80)
AC_PHASES = one_of((1, 3))
DC_VOLTAGE = number_in(50, 1500)  # IEC 61851-23 covers DC outputs up to 1500 V
DC_ONLY = ("max_power_kw", "min_voltage_v", "max_voltage_v")


def check_limits(
    connector: Checked, path: str, problems: list[Problem], warnings: list[Problem]
) -> None:
    """Check the keys of `connector` that depend on AC or DC; the valid ones go to its
    values (its devices are checked already)."""
    power = connector.values.get("power")
    if "power" in connector.nodes:
        if power is None:  # invalid device: its own problems are reported
            return
        _check_dc(connector, path, power, problems, warnings)
    else:
        _check_ac(connector, path, problems)


def _check(connector: Checked, path: str, key: str, check: Any, problems: list[Problem]) -> None:
    node = connector.nodes.get(key)
    if node is None:
        return
    try:
        connector.values[key] = check(node.value)
    except Invalid as exc:
        connector.values.pop(key, None)  # later checks compare only valid values
        problems.append(Problem(node.line, join(path, key), str(exc)))


def _check_ac(connector: Checked, path: str, problems: list[Problem]) -> None:
    _check(connector, path, "max_current_a", AC_CURRENT, problems)
    _check(connector, path, "phases", AC_PHASES, problems)
    for key in DC_ONLY:
        if key in connector.nodes:
            message = "only for a DC connector; allowed: remove it, or add the power: device"
            problems.append(Problem(connector.nodes[key].line, join(path, key), message))


def _at_most(limit: float | None, unit: str, source: str) -> Any:
    """A positive number no larger than `limit` (when the power modules tell it)."""

    def check(value: object) -> float:
        number = positive_number(value)
        if limit is not None and number > limit:
            raise Invalid(
                f"{number:g} {unit} is more than the power modules give ({source}: "
                f"{limit:g} {unit}); allowed: a number up to {limit:g}"
            )
        return number

    return check


def _check_dc(
    connector: Checked, path: str, power: DeviceConfig,
    problems: list[Problem], warnings: list[Problem],
) -> None:  # fmt: skip
    rating = power_rating(power)
    amps = _at_most(rating.max_current_a, "A", rating.source)
    kilowatts = _at_most(rating.max_power_kw, "kW", rating.source)
    _check(connector, path, "max_current_a", amps, problems)
    _check(connector, path, "max_power_kw", kilowatts, problems)
    if "phases" in connector.nodes:
        message = "ignored: a DC connector (it has a power: device) has no phases; remove it"
        warnings.append(Problem(connector.nodes["phases"].line, join(path, "phases"), message))
    top = _at_most(rating.max_voltage_v, "V", rating.source)
    _check(connector, path, "min_voltage_v", DC_VOLTAGE, problems)
    _check(connector, path, "max_voltage_v", lambda v: top(DC_VOLTAGE(v)), problems)
    low, high = connector.values.get("min_voltage_v"), connector.values.get("max_voltage_v")
    if low is not None and high is not None and low >= high:
        node = connector.nodes["max_voltage_v"]
        message = f"{high:g} is not above min_voltage_v ({low:g}); allowed: a number > {low:g}"
        problems.append(Problem(node.line, join(path, "max_voltage_v"), message))
        return
    target = power.options.get("target_voltage_v")
    if target is None:
        return
    if (low is not None and target < low) or (high is not None and target > high):
        node = _target_node(connector.nodes["power"])
        shown = f"{low or 0:g}..{high:g}" if high is not None else f"{low or 0:g} and up"
        message = (
            f"{target:g} V is outside the connector's voltage range; allowed: "
            f"{shown} V (min_voltage_v..max_voltage_v)"
        )
        problems.append(Problem(node.line, join(path, "power.target_voltage_v"), message))


def _target_node(power: Node) -> Node:
    """Where target_voltage_v is written (the power device's line when left at its default)."""
    if isinstance(power.value, dict) and "target_voltage_v" in power.value:
        node: Node = power.value["target_voltage_v"]
        return node
    return power
