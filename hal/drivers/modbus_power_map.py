"""Register maps of DC power stages: `hal/maps/power/<model>.yaml` loaded into a `PowerMap`.

The map (format documented at the top of `generic_dc.yaml`) says where the setpoints, the
on/off switch, the measurements and the status bits live; the driver
(hal/drivers/modbus_power.py) and the simulated stage (hal/sim/modbus_power_server.py) only
follow it, so a new product is a new map file. Values are encoded and decoded by the same
`RegisterValue` the meter maps use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from hal.interfaces import FaultCode
from hal.maps.loader import REGISTER_TYPES, RegisterValue, WordOrder

STATUS_BITS = 16  # the status is one register


@dataclass(frozen=True)
class Switch:
    """How the output is switched: a coil (function 5) or a register value (function 16)."""

    kind: Literal["coil", "register"]
    address: int
    on: int = 1
    off: int = 0


@dataclass(frozen=True)
class StatusRegister:
    """One register of fault bits: bit number → (code, info)."""

    function: int
    address: int
    bits: Mapping[int, tuple[FaultCode, str]]


@dataclass(frozen=True)
class PowerMap:
    """The register map of one power-stage model."""

    model: str
    description: str
    word_order: WordOrder
    voltage_setpoint: RegisterValue
    current_setpoint: RegisterValue
    switch: Switch
    measurement_function: int
    voltage: RegisterValue
    current: RegisterValue
    status: StatusRegister
    max_voltage_v: float | None = None
    max_current_a: float | None = None
    source: str = ""  # the file it came from, for messages

    def registers(self) -> dict[int, list[tuple[str, int, int]]]:
        """(key, first, end) of every register the map uses, by table: 3 holding, 4 input."""
        tables: dict[int, list[tuple[str, int, int]]] = {3: [], 4: []}
        for register in (self.voltage_setpoint, self.current_setpoint):
            tables[3].append((register.name, register.address, register.end))
        for register in (self.voltage, self.current):
            tables[self.measurement_function].append(
                (register.name, register.address, register.end)
            )
        status = self.status
        tables[status.function].append(("status.address", status.address, status.address + 1))
        if self.switch.kind == "register":
            address = self.switch.address
            tables[3].append(("switch.register", address, address + 1))
        return tables


def power_maps_dir() -> Path:
    return Path(str(resources.files("hal.maps").joinpath("power")))


def power_models() -> list[str]:
    """Every model name `load_power_map` accepts, sorted."""
    return sorted(path.stem for path in power_maps_dir().glob("*.yaml"))


def load_power_map(model: str | Path) -> PowerMap:
    """The map of `model`: a name in hal/maps/power/, or the path of a .yaml file.

    ValueError naming the available models for an unknown name, and naming the file and
    the key for a malformed map.
    """
    text = str(model)
    if isinstance(model, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        return load_power_map_file(Path(model))
    path = power_maps_dir() / f"{text}.yaml"
    if not path.is_file():
        available = ", ".join(power_models()) or "none"
        raise ValueError(f"unknown power stage model {text!r}; available: {available}")
    return load_power_map_file(path)


def load_power_map_file(path: Path) -> PowerMap:
    """Load and check one map file (a shipped one, or a site's own)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read power stage map: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    return _parse(data, str(path))


_MAP_KEYS = {
    "model",
    "description",
    "word_order",
    "setpoints",
    "switch",
    "measurements",
    "status",
    "limits",
}
_REQUIRED = ("model", "word_order", "setpoints", "switch", "measurements", "status")


def _parse(data: Any, source: str) -> PowerMap:
    def fail(key: str, problem: str) -> ValueError:
        return ValueError(f"{source}: {key}: {problem}")

    def mapping(value: Any, key: str, keys: set[str], required: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(key, f"must be a mapping with keys {', '.join(sorted(keys))}")
        for name in value:
            if name not in keys:
                raise fail(f"{key}.{name}", f"unknown key; known: {', '.join(sorted(keys))}")
        for name in required:
            if name not in value:
                raise fail(f"{key}.{name}", "missing")
        return value

    if not isinstance(data, dict):
        raise ValueError(f"{source}: a power stage map is a mapping of keys (model, ...)")
    for key in data:
        if key not in _MAP_KEYS:
            raise fail(str(key), f"unknown key; known: {', '.join(sorted(_MAP_KEYS))}")
    for key in _REQUIRED:
        if key not in data:
            raise fail(key, "missing")
    model = data["model"]
    stem = Path(source).stem
    if model != stem:
        raise fail("model", f"{model!r} must match the file name ({stem!r})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    word_order = data["word_order"]
    if word_order not in ("big", "little"):
        raise fail("word_order", f"{word_order!r}: big (high word first) or little")

    def value(spec: Any, key: str) -> RegisterValue:
        spec = mapping(spec, key, {"address", "type", "scale"}, ("address", "type"))
        address = _address(spec["address"], f"{key}.address", fail)
        type_ = spec["type"]
        if type_ not in REGISTER_TYPES:
            raise fail(f"{key}.type", f"{type_!r}; known: {', '.join(REGISTER_TYPES)}")
        scale = spec.get("scale", 1)
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not scale > 0:
            raise fail(f"{key}.scale", f"{scale!r}: a positive number")
        register = RegisterValue(key, address, type_, float(scale), word_order)
        if register.end > 0x10000:
            raise fail(f"{key}.address", f"{address:#06x}: {type_} runs past the last register")
        return register

    setpoints = mapping(
        data["setpoints"], "setpoints", {"voltage", "current"}, ("voltage", "current")
    )
    measurements = mapping(
        data["measurements"],
        "measurements",
        {"function", "voltage", "current"},
        ("function", "voltage", "current"),
    )
    measurement_function = _function(measurements["function"], "measurements.function", fail)
    status = mapping(
        data["status"], "status", {"function", "address", "bits"}, ("function", "address", "bits")
    )
    limits = mapping(data.get("limits", {}), "limits", {"max_voltage_v", "max_current_a"}, ())
    for key, limit in limits.items():
        if not isinstance(limit, int | float) or isinstance(limit, bool) or not limit > 0:
            raise fail(f"limits.{key}", f"{limit!r}: a positive number")
    power_map = PowerMap(
        model=model,
        description=description,
        word_order=word_order,
        voltage_setpoint=value(setpoints["voltage"], "setpoints.voltage"),
        current_setpoint=value(setpoints["current"], "setpoints.current"),
        switch=_switch(data["switch"], fail),
        measurement_function=measurement_function,
        voltage=value(measurements["voltage"], "measurements.voltage"),
        current=value(measurements["current"], "measurements.current"),
        status=StatusRegister(
            function=_function(status["function"], "status.function", fail),
            address=_address(status["address"], "status.address", fail),
            bits=_status_bits(status["bits"], fail),
        ),
        max_voltage_v=limits.get("max_voltage_v"),
        max_current_a=limits.get("max_current_a"),
        source=source,
    )
    _check_overlaps(power_map, fail)
    return power_map


def _address(value: Any, key: str, fail: Callable[[str, str], ValueError]) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise fail(key, f"{value!r}: a register address 0..0xFFFF")
    return value


def _function(value: Any, key: str, fail: Callable[[str, str], ValueError]) -> int:
    if value not in (3, 4) or isinstance(value, bool):
        raise fail(key, f"{value!r}: 3 (holding registers) or 4 (input registers)")
    return int(value)


def _switch(spec: Any, fail: Callable[[str, str], ValueError]) -> Switch:
    if isinstance(spec, dict):
        # YAML 1.1 reads a bare `on:` / `off:` key as a boolean.
        spec = {(("on" if k else "off") if isinstance(k, bool) else k): v for k, v in spec.items()}
    if isinstance(spec, dict) and set(spec) == {"coil"}:
        return Switch("coil", _address(spec["coil"], "switch.coil", fail))
    if isinstance(spec, dict) and set(spec) == {"register", "on", "off"}:
        levels = []
        for key in ("on", "off"):
            level = spec[key]
            if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 0xFFFF:
                raise fail(f"switch.{key}", f"{level!r}: a register value 0..0xFFFF")
            levels.append(level)
        if levels[0] == levels[1]:
            raise fail("switch", "on and off must differ")
        address = _address(spec["register"], "switch.register", fail)
        return Switch("register", address, levels[0], levels[1])
    raise fail("switch", f"{spec!r}: {{coil: <address>}} or {{register: <address>, on: n, off: n}}")


def _status_bits(
    spec: Any, fail: Callable[[str, str], ValueError]
) -> dict[int, tuple[FaultCode, str]]:
    if not isinstance(spec, dict) or not spec:
        raise fail("status.bits", "must map bit numbers to {code, info}")
    bits: dict[int, tuple[FaultCode, str]] = {}
    for bit, entry in spec.items():
        key = f"status.bits.{bit}"
        if not isinstance(bit, int) or isinstance(bit, bool) or not 0 <= bit < STATUS_BITS:
            raise fail(key, f"bit number must be 0..{STATUS_BITS - 1}")
        if not isinstance(entry, dict) or set(entry) - {"code", "info"} or "code" not in entry:
            raise fail(key, "must be {code: <FaultCode>, info: <text>}")
        code = entry["code"]
        if code not in FaultCode.__members__:
            raise fail(f"{key}.code", f"{code!r}; known: {', '.join(FaultCode.__members__)}")
        info = entry.get("info", code)
        if not isinstance(info, str):
            raise fail(f"{key}.info", "must be a string")
        bits[bit] = (FaultCode(code), info)
    return bits


def _check_overlaps(power_map: PowerMap, fail: Callable[[str, str], ValueError]) -> None:
    """No two values share a register of the same table (holding or input registers)."""
    for entries in power_map.registers().values():
        ordered = sorted(entries, key=lambda entry: entry[1])
        for (name, _, end), (other, start, _) in zip(ordered, ordered[1:], strict=False):
            if start < end:
                raise fail(other, f"{start:#06x} overlaps {name}")
