"""Device options in the station YAML: each driver's option table and its checks.

A device is written `{driver: NAME, option: value, ...}` under a connector role
(`controller`, `meter`, `power`). The tables of which driver takes which options live in
`hal/registry.py`; the types and the checks live here. Errors come back as
`(option, message)` pairs: whoever read the YAML places them on file lines.

Also here: what hal reads of a validated station configuration (`StationSetup` and the
Protocols it is made of), so hal depends on nothing above it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class OptionError(ValueError):
    pass


@dataclass(frozen=True)
class DeviceConfig:
    """One device of a connector: the driver's name and its options, defaults filled in."""

    driver: str
    options: dict[str, Any] = field(default_factory=dict)


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


def check_device(
    drivers: Mapping[str, DriverSpec], written: Mapping[str, Any]
) -> tuple[DeviceConfig | None, list[tuple[str, str]]]:
    """The device `written` as `{driver: NAME, option: value, ...}` describes, checked
    against the drivers of its role: (the device or None, [(key, error), ...])."""
    names = ", ".join(drivers)
    if "driver" not in written:
        return None, [("driver", f"required key missing; allowed: {names}")]
    driver = written["driver"]
    if not isinstance(driver, str) or driver not in drivers:
        listed = ", ".join(repr(name) for name in drivers)
        return None, [("driver", f"{_shown(driver)} is not one of {listed}")]
    spec = drivers[driver]
    allowed = ["driver", *spec.options]
    errors = []
    for name in written:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append((name, f"unknown key; allowed: {', '.join(allowed)}{hint}"))
    options = {name: value for name, value in written.items() if name in spec.options}
    if option_errors := spec.check(options):
        return None, errors + option_errors
    return DeviceConfig(driver, spec.complete(options)), errors


def _shown(value: object) -> str:
    """A value as it was written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value) if isinstance(value, str) else str(value)


# --- what hal reads of a station's configuration -----------------------------------------
# Read-only properties, so frozen dataclasses of any config loader satisfy them.


class ConnectorSetup(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def max_current_a(self) -> float: ...
    @property
    def phases(self) -> int: ...
    @property
    def controller(self) -> DeviceConfig | None: ...  # None: the station's default driver
    @property
    def meter(self) -> DeviceConfig | None: ...
    @property
    def power(self) -> DeviceConfig | None: ...  # DC power electronics; None for AC


class SimSetup(Protocol):
    @property
    def voltage_v(self) -> float: ...  # per phase
    @property
    def ev_max_current_a(self) -> float: ...
    @property
    def wire(self) -> bool: ...  # wire-level simulators in-process, real drivers on them


class StationSetup(Protocol):
    """The hardware part of a station's configuration: what `build_hardware` needs."""

    @property
    def connectors(self) -> Sequence[ConnectorSetup]: ...
    @property
    def sim(self) -> SimSetup: ...
    @property
    def storage_dir(self) -> Path: ...  # the simulated meters keep their registers here
    @property
    def hal_driver(self) -> str: ...  # the driver of every device not configured on its own
