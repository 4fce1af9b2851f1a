"""Meter register maps: one YAML file per model in `hal/maps/meters/`, loaded into dataclasses.

The map is the only place that knows where a meter keeps a value and how it is encoded;
the driver and the simulated meter server both read and write registers through it
(`RegisterValue.decode` / `RegisterValue.encode`), so they cannot disagree. The format
is documented in docs/METER_MAPS.md.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

WordOrder = Literal["big", "little"]

# The values a map may name, in the order they appear in a MeterReading.
VALUE_NAMES: tuple[str, ...] = (
    "energy_import_wh",
    "power_w",
    "voltage_l1_v",
    "voltage_l2_v",
    "voltage_l3_v",
    "current_l1_a",
    "current_l2_a",
    "current_l3_a",
    "frequency_hz",
)
REQUIRED_VALUES: tuple[str, ...] = ("energy_import_wh",)

# type name -> (struct format, number of 16-bit registers); bytes are big-endian within a
# register, as Modbus sends them.
_TYPES: dict[str, tuple[str, int]] = {
    "float32": ("f", 2),
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
}
REGISTER_TYPES: tuple[str, ...] = tuple(_TYPES)

# Modbus allows at most 125 registers in one read (function 3 and 4).
MAX_READ_REGISTERS = 125

_MAP_KEYS = {"model", "description", "function", "word_order", "values", "aliases", "max_gap"}
_VALUE_KEYS = {"address", "type", "scale", "invalid"}


@dataclass(frozen=True)
class RegisterValue:
    """Where one value lives and how it is encoded: raw × scale = value in the SI unit."""

    name: str
    address: int
    type: str
    scale: float
    word_order: WordOrder
    invalid: tuple[int, ...] = ()  # raw patterns (unsigned, as read) meaning "no value"

    @property
    def count(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return _TYPES[self.type][1]

    @property
    def end(self) -> int:
        """First register after the value."""
        return self.address + self.count

    def decode(self, registers: Sequence[int]) -> float | None:
        """The value in its SI unit, or None for an invalid pattern, NaN or infinity."""
        if len(registers) != self.count:
            raise ValueError(f"{self.name}: {self.type} needs {self.count} registers")
        words = list(registers)
        if self.word_order == "little":
            words.reverse()
        data = b"".join(word.to_bytes(2, "big") for word in words)
        if int.from_bytes(data, "big") in self.invalid:
            return None
        (value,) = struct.unpack(">" + _TYPES[self.type][0], data)
        if not math.isfinite(value):
            return None
        return float(value) * self.scale

    def encode(self, value: float | None) -> list[int]:
        """Registers holding `value` (None: the first invalid pattern, else NaN or zero).

        Integers are rounded to the register's step and clamped to the type's range.
        """
        fmt = ">" + _TYPES[self.type][0]
        if value is None or not math.isfinite(value):
            if self.invalid:
                data = self.invalid[0].to_bytes(2 * self.count, "big")
            else:
                data = struct.pack(fmt, math.nan if self.type == "float32" else 0)
        elif self.type == "float32":
            raw = value / self.scale
            try:
                data = struct.pack(fmt, raw)
            except OverflowError:
                data = struct.pack(fmt, math.copysign(math.inf, raw))
        else:
            bits = 16 * self.count
            signed = not self.type.startswith("u")
            low = -(2 ** (bits - 1)) if signed else 0
            high = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
            data = struct.pack(fmt, min(max(round(value / self.scale), low), high))
        words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        if self.word_order == "little":
            words.reverse()
        return words


@dataclass(frozen=True)
class ReadBlock:
    """One read request: `count` registers from `address`, holding `values`."""

    address: int
    count: int
    values: tuple[RegisterValue, ...]

    def decode(self, registers: Sequence[int]) -> dict[str, float | None]:
        """Each value of the block, from the registers one read returned."""
        return {
            v.name: v.decode(registers[v.address - self.address : v.end - self.address])
            for v in self.values
        }


@dataclass(frozen=True)
class MeterMap:
    """The register map of one meter model."""

    model: str
    description: str
    function: int  # 3: holding registers, 4: input registers
    word_order: WordOrder
    values: Mapping[str, RegisterValue]
    aliases: tuple[str, ...] = ()
    max_gap: int = 0  # unused registers a read may span to join two values
    source: str = ""  # the file it came from, for messages

    def phases(self, prefix: str, suffix: str) -> tuple[RegisterValue, ...]:
        """The per-phase values named `<prefix>_l<n>_<suffix>` present in the map, L1 first."""
        found = []
        for n in (1, 2, 3):
            value = self.values.get(f"{prefix}_l{n}_{suffix}")
            if value is None:
                break
            found.append(value)
        return tuple(found)

    def read_blocks(self, max_registers: int = MAX_READ_REGISTERS) -> list[ReadBlock]:
        """The reads that fetch every value: neighbours (at most `max_gap` apart) share one."""
        ordered = sorted(self.values.values(), key=lambda v: v.address)
        blocks: list[ReadBlock] = []
        group: list[RegisterValue] = []
        for value in ordered:
            if group and (
                value.address - group[-1].end > self.max_gap
                or value.end - group[0].address > max_registers
            ):
                blocks.append(_block(group))
                group = []
            group.append(value)
        if group:
            blocks.append(_block(group))
        return blocks


def _block(values: list[RegisterValue]) -> ReadBlock:
    start = values[0].address
    return ReadBlock(start, max(v.end for v in values) - start, tuple(values))


# --- loading ------------------------------------------------------------------------------


def _maps_dir() -> Path:
    return Path(str(resources.files("hal.maps").joinpath("meters")))


@cache
def _index() -> dict[str, Path]:
    """Model name and every alias -> map file."""
    index: dict[str, Path] = {}
    for path in sorted(_maps_dir().glob("*.yaml")):
        index[path.stem] = path
        meter_map = load_meter_map_file(path)
        for alias in meter_map.aliases:
            index.setdefault(alias, path)
    return index


def meter_models() -> list[str]:
    """Every model name `load_meter_map` accepts (aliases included), sorted."""
    return sorted(_index())


def load_meter_map(model: str) -> MeterMap:
    """The shipped map of `model` (a file name in hal/maps/meters/ or an alias of one).

    Raises ValueError naming the available models when there is no such map, and naming
    the file and key when the map file is malformed.
    """
    path = _index().get(model)
    if path is None:
        available = ", ".join(meter_models())
        raise ValueError(f"unknown meter model {model!r}; available: {available}")
    return load_meter_map_file(path)


def load_meter_map_file(path: Path | str) -> MeterMap:
    """Load and check one map file (a shipped one, or a site's own)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read meter map: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    return _parse(data, str(path))


def _parse(data: Any, source: str) -> MeterMap:
    def fail(key: str, problem: str) -> ValueError:
        return ValueError(f"{source}: {key}: {problem}")

    if not isinstance(data, dict):
        raise ValueError(f"{source}: a meter map is a mapping of keys (model, function, ...)")
    for key in data:
        if key not in _MAP_KEYS:
            raise fail(str(key), f"unknown key; known: {', '.join(sorted(_MAP_KEYS))}")
    for key in ("model", "function", "word_order", "values"):
        if key not in data:
            raise fail(key, "missing")

    model = data["model"]
    if not isinstance(model, str) or not model:
        raise fail("model", "must be a non-empty string")
    stem = Path(source).stem
    if model != stem:
        raise fail("model", f"{model!r} must match the file name ({stem!r})")
    function = data["function"]
    if function not in (3, 4):
        raise fail("function", f"{function!r}: 3 (holding registers) or 4 (input registers)")
    word_order = data["word_order"]
    if word_order not in ("big", "little"):
        raise fail("word_order", f"{word_order!r}: big (high word first) or little")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise fail("aliases", "must be a list of model names")
    max_gap = data.get("max_gap", 0)
    if not isinstance(max_gap, int) or isinstance(max_gap, bool) or max_gap < 0:
        raise fail("max_gap", f"{max_gap!r}: a number of registers, 0 or more")

    raw_values = data["values"]
    if not isinstance(raw_values, dict) or not raw_values:
        raise fail("values", "must map value names to {address, type, scale}")
    values: dict[str, RegisterValue] = {}
    for name, spec in raw_values.items():
        values[str(name)] = _parse_value(str(name), spec, word_order, fail)
    for name in REQUIRED_VALUES:
        if name not in values:
            raise fail(f"values.{name}", "missing (every meter map needs it)")
    for prefix, suffix in (("voltage", "v"), ("current", "a")):
        present = [n for n in (1, 2, 3) if f"{prefix}_l{n}_{suffix}" in values]
        if present != list(range(1, len(present) + 1)):
            raise fail(
                f"values.{prefix}_l{present[-1]}_{suffix}",
                "phases must start at L1 without gaps (have "
                + ", ".join(f"L{n}" for n in present)
                + ")",
            )
    ordered = sorted(values.values(), key=lambda v: v.address)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.address < before.end:
            raise fail(
                f"values.{after.name}.address",
                f"0x{after.address:04X} overlaps {before.name} (0x{before.address:04X}, "
                f"{before.count} registers)",
            )
    return MeterMap(
        model=model,
        description=description,
        function=function,
        word_order=word_order,
        values=values,
        aliases=tuple(aliases),
        max_gap=max_gap,
        source=source,
    )


def _parse_value(
    name: str, spec: Any, word_order: WordOrder, fail: Callable[[str, str], ValueError]
) -> RegisterValue:
    key = f"values.{name}"
    if name not in VALUE_NAMES:
        raise fail(key, f"unknown value; known: {', '.join(VALUE_NAMES)}")
    if not isinstance(spec, dict):
        raise fail(key, "must be a mapping {address, type, scale, invalid}")
    for field in spec:
        if field not in _VALUE_KEYS:
            raise fail(f"{key}.{field}", f"unknown key; known: {', '.join(sorted(_VALUE_KEYS))}")
    for field in ("address", "type"):
        if field not in spec:
            raise fail(f"{key}.{field}", "missing")
    address = spec["address"]
    if not isinstance(address, int) or isinstance(address, bool) or not 0 <= address <= 0xFFFF:
        raise fail(f"{key}.address", f"{address!r}: a register address 0..0xFFFF")
    type_ = spec["type"]
    if type_ not in _TYPES:
        raise fail(f"{key}.type", f"{type_!r}; known: {', '.join(REGISTER_TYPES)}")
    scale = spec.get("scale", 1)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0:
        raise fail(f"{key}.scale", f"{scale!r}: a positive number (write 1000, not 1e3)")
    invalid = spec.get("invalid", [])
    patterns = invalid if isinstance(invalid, list) else [invalid]
    bits = 16 * _TYPES[type_][1]
    checked: list[int] = []
    for pattern in patterns:
        if not isinstance(pattern, int) or isinstance(pattern, bool):
            raise fail(f"{key}.invalid", f"{pattern!r}: a raw register pattern such as 0xFFFFFFFF")
        if not -(2 ** (bits - 1)) <= pattern < 2**bits:
            raise fail(f"{key}.invalid", f"0x{pattern:X} does not fit {type_}")
        checked.append(pattern % 2**bits)  # as read: unsigned
    end = address + bits // 16
    if end > 0x10000:
        raise fail(f"{key}.address", f"0x{address:04X}: {type_} runs past the last register")
    return RegisterValue(
        name=name,
        address=address,
        type=type_,
        scale=float(scale),
        word_order=word_order,
        invalid=tuple(checked),
    )
