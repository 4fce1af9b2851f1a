"""Station configuration: one YAML file, validated with errors a technician can act on.

Every error names the file, the line, the key path, what is wrong and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from hal.registry import DRIVER_NAMES


@dataclass(frozen=True)
class StationInfo:
    id: str
    vendor: str = "chargerd"
    model: str = "chargerd-sim"
    serial: str | None = None
    firmware_version: str = "0.1.0"


@dataclass(frozen=True)
class CsmsConfig:
    url: str  # the station id is appended as the last path segment
    ocpp_version: str = "1.6"  # "1.6" or "2.0.1"
    password: str | None = None  # Basic auth (security profile 1) when set
    ca_file: str | None = None  # CA bundle to verify a wss:// server; system CAs when None
    call_timeout_s: float = 30.0  # how long to wait for a CALLRESULT
    reconnect_min_s: float = 1.0  # first reconnect wait; doubles after each failure
    reconnect_max_s: float = 60.0  # cap of the reconnect wait


@dataclass(frozen=True)
class DeviceConfig:
    """One device of a connector: the driver's name and its options (see hal/registry.py)."""

    driver: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorConfig:
    id: int
    max_current_a: float = 32.0
    phases: int = 3
    controller: DeviceConfig | None = None  # None: the hal.driver default (sim)
    meter: DeviceConfig | None = None
    power: DeviceConfig | None = None  # DC power electronics; None for AC connectors


@dataclass(frozen=True)
class SimConfig:
    voltage_v: float = 230.0  # per phase
    ev_max_current_a: float = 32.0  # what the simulated EV draws at most
    wire: bool = False  # run wire-level simulators in-process and point the drivers at them


@dataclass(frozen=True)
class Config:
    path: Path
    station: StationInfo
    csms: CsmsConfig
    connectors: tuple[ConnectorConfig, ...]
    storage_dir: Path = Path("/var/lib/chargerd")
    control_socket: Path = Path("/run/chargerd/control.sock")
    hal_driver: str = "sim"
    sim: SimConfig = field(default_factory=SimConfig)
    # first-start values of OCPP configuration: flat {Key: value} for 1.6,
    # nested {Component: {Variable: value}} for 2.0.1
    ocpp: dict[str, Any] = field(default_factory=dict)
    hard_reset_command: str | None = None  # run on Reset Hard instead of exiting for systemd
    log_level: str = "info"


OCPP_VERSIONS = ("1.6", "2.0.1")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """The configuration is not valid. `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read the YAML file at `path`, apply `overrides`, validate, and return the Config.

    Each override is `dotted.key=value` (as given to `chargerd run --set`); the value is
    read as YAML, list items are addressed by a 0-based index (`connectors.0.phases=1`),
    and missing mappings on the way are created. Overrides are applied before validation.

    Raises ConfigError with one line per problem found, never stopping at the first:
    `{file}:{line}: {key.path}: {what is wrong}; {what is allowed}`, or `--set {key.path}: ...`
    when the value came from an override.
    """
    file = str(path)
    problems: list[_Problem] = []
    changes = [_parse_override(text, problems) for text in overrides]

    document, unreadable = _compose(file)
    if unreadable is not None:
        raise ConfigError([unreadable] + _format(problems, file))

    reader = _Reader(problems, from_file=True)
    if document is None:  # an empty file: report the missing keys
        root = _Node({}, 1)
    else:
        root = reader.read(document, "", document.start_mark.line + 1)
    if reader.overflowed:
        raise ConfigError(_format(problems, file))

    if root.value is None:  # a document of only `~` or comments
        root.value = {}
    if isinstance(root.value, dict):
        for change in changes:
            if change is not None:
                _apply_override(root, *change, problems)
    config = _build_config(Path(path), root, problems)
    if config is None or problems:
        raise ConfigError(_format(problems, file))
    return config


# --- problems -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    line: int | None  # 1-based line in the file; None when the value came from --set
    path: str  # key path such as connectors[1].phases; empty for the whole document
    message: str  # what is wrong; what is allowed


_HUGE = 10**18  # no configuration number comes near this
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]|[^\S ]")  # control characters, odd spaces


def _format(problems: list[_Problem], file: str) -> list[str]:
    """One line per problem, in file order, the --set ones last; control characters
    (a line break in a key, say) are shown escaped so each problem stays one line."""
    lines = []
    for problem in sorted(problems, key=lambda p: (p.line is None, p.line or 0)):
        if problem.line is None:
            lines.append(f"--set {problem.path}: {problem.message}")
        elif problem.path:
            lines.append(f"{file}:{problem.line}: {problem.path}: {problem.message}")
        else:
            lines.append(f"{file}:{problem.line}: {problem.message}")
    return [_CONTROL.sub(lambda m: repr(m.group())[1:-1], line) for line in lines]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _index(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _show(value: object) -> str:
    """A value as a technician wrote it in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bytes):
        return "binary data"
    return str(value)


# --- reading YAML into values that remember their line ----------------------------------


@dataclass
class _Node:
    """A YAML value: a scalar, dict[str, _Node] or list[_Node], and where it was written."""

    value: Any
    line: int | None  # the line of its key (of the item, in a list); None for --set values


# Limits that stop alias bombs (`&a [*a, *a, ...]`) and recursive aliases early.
_MAX_DEPTH = 32
_MAX_VALUES = 100_000


def _compose(file: str) -> tuple[yaml.Node | None, str | None]:
    """The YAML node tree of the file, or a line saying why it cannot be read."""
    try:
        data = Path(file).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return None, f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, f"{file}:{line}: cannot read: not UTF-8 text (at byte {exc.start + 1})"
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        column = f" (column {mark.column + 1})" if mark else ""
        also = ""
        if exc.context and exc.problem and exc.context_mark and mark is not exc.context_mark:
            also = f"; {exc.context} on line {exc.context_mark.line + 1}"
        if "'\\t'" in what:
            also += "; indent with spaces, not tabs"
        return None, f"{file}{line}: YAML syntax error: {what}{column}{also}"
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        return (
            None,
            f"{file}:{line}: cannot read: character #x{exc.character:04x} (not a text file?)",
        )
    except yaml.YAMLError as exc:
        return None, f"{file}: YAML syntax error: {exc}"
    except RecursionError:
        return None, f"{file}: YAML syntax error: nested too deeply"


class _Reader:
    """Turns composed YAML nodes into _Node values, noting each value's line."""

    def __init__(self, problems: list[_Problem], from_file: bool) -> None:
        self.problems = problems
        self.from_file = from_file
        self.values_left = _MAX_VALUES
        self.overflowed = False
        self.constructor = yaml.constructor.SafeConstructor()

    def line_of(self, node: yaml.Node) -> int | None:
        return node.start_mark.line + 1 if self.from_file else None

    def read(self, node: yaml.Node, path: str, line: int | None, depth: int = 0) -> _Node:
        self.values_left -= 1
        if depth > _MAX_DEPTH or self.values_left < 0:
            if not self.overflowed:
                self.overflowed = True
                message = (
                    f"nested too deeply or too large (a recursive alias?); allowed: at most "
                    f"{_MAX_DEPTH} levels and {_MAX_VALUES} values"
                )
                self.problems.append(_Problem(line, path, message))
            return _Node(None, line)
        if isinstance(node, yaml.MappingNode):
            return _Node(self.read_mapping(node, path, depth), line)
        if isinstance(node, yaml.SequenceNode):
            items = [
                self.read(item, _index(path, i), self.line_of(item), depth + 1)
                for i, item in enumerate(node.value)
            ]
            return _Node(items, line)
        return _Node(self.read_scalar(node, path, line), line)

    def read_scalar(self, node: yaml.Node, path: str, line: int | None) -> object:
        try:
            value = self.constructor.construct_object(node)
        except Exception:  # pyyaml raises assorted errors for mis-tagged values (!!int x)
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            message = f"{node.value!r} cannot be read as {tag}; allowed: untagged values"
            self.problems.append(_Problem(line, path, message))
            return node.value
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _HUGE:
            self.problems.append(_Problem(line, path, "the number is far too large"))
            return math.inf  # keeps later checks from printing thousands of digits
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.problems.append(_Problem(line, path, "contains invalid characters "
                                              "(lone surrogates); allowed: text"))  # fmt: skip
                return value.encode("utf-8", "replace").decode("utf-8")
        return value

    def read_mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, _Node]:
        entries: dict[str, _Node] = {}
        merged: list[dict[str, _Node]] = []
        for key_node, value_node in node.value:
            line = self.line_of(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`
                merged.extend(self.read_merge(value_node, path, line, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                message = f"{_show(key_node.value)} used as a key; allowed: plain names"
                self.problems.append(_Problem(line, path, message))
                continue
            key = key_node.value
            if key in entries:
                first = entries[key].line
                message = "duplicate key" + (f" (first on line {first})" if first else "")
                self.problems.append(_Problem(line, _join(path, key), message + "; allowed: once"))
                continue
            entries[key] = self.read(value_node, _join(path, key), line, depth + 1)
        # YAML merge rules: keys written here win, then earlier merged mappings.
        for source in merged:
            for key, value in source.items():
                entries.setdefault(key, value)
        return entries

    def read_merge(
        self, node: yaml.Node, path: str, line: int | None, depth: int
    ) -> list[dict[str, _Node]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        mappings = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                message = "merges only mappings; allowed: <<: *name or <<: [*a, *b]"
                self.problems.append(_Problem(line, _join(path, "<<"), message))
                continue
            mappings.append(self.read(source, path, line, depth + 1).value)
        return [m for m in mappings if isinstance(m, dict)]


# --- overrides (--set dotted.key=value) -----------------------------------------------

_OVERRIDE_FORM = "dotted.key=value, e.g. csms.url=ws://127.0.0.1:9000/ocpp"


def _quoted(text: str) -> str:
    """The override as given, quoted when blanks at its ends would hide in the message."""
    return text if text and text == text.strip() else repr(text)


def _parse_override(text: str, problems: list[_Problem]) -> tuple[list[str], _Node] | None:
    """The key parts and the value of one override, or None (with a problem) if malformed."""
    key, equals, value_text = text.partition("=")
    key = key.strip()
    if not equals:
        problems.append(_Problem(None, _quoted(text), f"missing '='; allowed: {_OVERRIDE_FORM}"))
        return None
    parts = key.split(".")
    if not all(parts):
        what = "empty key" if not key else f"empty part in key {key!r}"
        problems.append(_Problem(None, _quoted(text), f"{what}; allowed: {_OVERRIDE_FORM}"))
        return None
    reader = _Reader(problems, from_file=False)
    try:
        node = yaml.compose(value_text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(_Problem(None, key, f"YAML syntax error in the value: {what}"))
        return None
    if node is None:  # `key=` sets null
        return parts, _Node(None, None)
    return parts, reader.read(node, key, None)


def _apply_override(root: _Node, parts: list[str], value: _Node, problems: list[_Problem]) -> None:
    """Set the value at the dotted key, creating missing mappings on the way."""
    node = root
    path = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node.value, dict):
            if last:
                node.value[part] = value
                return
            child = node.value.get(part)
            if child is None or child.value is None:
                child = _Node({}, None)
                node.value[part] = child
            node, path = child, _join(path, part)
        elif isinstance(node.value, list):
            count = len(node.value)
            if not part.isdigit() or int(part) >= count:
                allowed = f"0..{count - 1} (counted from 0)" if count else "none, it is empty"
                message = f"{part!r} is not an index of {path}; allowed: {allowed}"
                problems.append(_Problem(None, ".".join(parts), message))
                return
            if last:
                node.value[int(part)] = value
                return
            node, path = node.value[int(part)], _index(path, int(part))
        else:
            message = (
                f"{path} is {_show(node.value)}, which has no {part!r}; "
                f"allowed: keys inside mappings, 0-based indexes inside lists"
            )
            problems.append(_Problem(None, ".".join(parts), message))
            return


# --- checks of single values ------------------------------------------------------------


class _Invalid(Exception):
    """A value is wrong; the message says what is wrong and what is allowed."""


Check = Callable[[Any], Any]  # returns the value to store, or raises _Invalid


def _text(max_len: int | None = None) -> Check:
    allowed = f"text of 1..{max_len} characters" if max_len else "non-empty text"

    def check(value: object) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise _Invalid(f"{_show(value)} is a number; allowed: {allowed}, in quotes")
        if not isinstance(value, str):
            raise _Invalid(f"{_show(value)} is not text; allowed: {allowed}")
        if not value:
            raise _Invalid(f"'' is empty; allowed: {allowed}")
        if max_len is not None and len(value) > max_len:
            raise _Invalid(f"{_show(value)} is {len(value)} characters long; allowed: {allowed}")
        return value

    return check


def _optional(check: Check) -> Check:
    def optional(value: object) -> object:
        return None if value is None else check(value)

    return optional


def _station_id(value: object) -> str:
    allowed = (
        "1..48 characters without '/', '?', '#' or whitespace "
        "(it becomes the last segment of the CSMS URL)"
    )
    text = _text(48)(value)
    if any(c in "/?#" or c.isspace() for c in text):
        raise _Invalid(f"{_show(text)} contains '/', '?', '#' or whitespace; allowed: {allowed}")
    return text


def _as_number(value: object, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{_show(value)} is not a number; allowed: {allowed}")
    if not math.isfinite(value):
        raise _Invalid(f"{_show(value)} is not a finite number; allowed: {allowed}")
    return float(value)


def _number_in(low: float, high: float) -> Check:
    allowed = f"a number from {low:g} to {high:g}"

    def check(value: object) -> float:
        number = _as_number(value, allowed)
        if not low <= number <= high:
            raise _Invalid(f"{_show(value)} is out of range; allowed: {allowed}")
        return number

    return check


def _positive_number(value: object) -> float:
    number = _as_number(value, "a number > 0")
    if number <= 0:
        raise _Invalid(f"{_show(value)} is not above 0; allowed: a number > 0")
    return number


def _integer_from(minimum: int) -> Check:
    allowed = f"a whole number ≥ {minimum}"

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"{_show(value)} is not a whole number; allowed: {allowed}")
        if value < minimum:
            raise _Invalid(f"{_show(value)} is too small; allowed: {allowed}")
        return value

    return check


def _one_of(choices: Sequence[object]) -> Check:
    def check(value: object) -> object:
        # compare types too: YAML `true` must not pass as 1
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        raise _Invalid(f"{_show(value)} is not one of {', '.join(_show(c) for c in choices)}")

    return check


def _ocpp_version(value: object) -> str:
    if isinstance(value, float) and value == 1.6:  # `ocpp_version: 1.6` written without quotes
        return "1.6"
    return str(_one_of(OCPP_VERSIONS)(value))


def _ws_url(value: object) -> str:
    allowed = "ws://host[:port]/path or wss://host[:port]/path"
    url = _text()(value)
    if not url.startswith(("ws://", "wss://")):
        raise _Invalid(f"{_show(url)} does not start with ws:// or wss://; allowed: {allowed}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _Invalid(f"{_show(url)} has an invalid host or port; allowed: {allowed}") from None
    if not parts.hostname:
        raise _Invalid(f"{_show(url)} has no host; allowed: {allowed}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise _Invalid(
            f"{_show(url)} has a query or fragment; allowed: {allowed} "
            "(the station id is appended to the path)"
        )
    return url


def _existing_file(value: object) -> str:
    allowed = "the path of an existing CA bundle (PEM) file, or null for the system CAs"
    name = _text()(value)
    if not os.path.isfile(name):
        raise _Invalid(f"{_show(name)} is not an existing file; allowed: {allowed}")
    return name


def _path(value: object) -> Path:
    return Path(_text()(value))


# sockaddr_un.sun_path holds 108 bytes including the final NUL
_MAX_SOCKET_PATH = 107


def _socket_path(value: object) -> Path:
    name = _text()(value)
    size = len(os.fsencode(name))
    if size > _MAX_SOCKET_PATH:
        raise _Invalid(
            f"{_show(name)} is {size} bytes long; allowed: at most {_MAX_SOCKET_PATH} bytes "
            "(a Unix socket limit; use a shorter or relative path)"
        )
    return Path(name)


# --- the schema -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    check: Check
    required: bool = False
    attr: str = ""  # the dataclass field it fills, when not named like the key


_STATION: dict[str, _Key] = {
    "id": _Key(_station_id, required=True),
    "vendor": _Key(_text(20)),  # lengths: OCPP 1.6 BootNotification.req
    "model": _Key(_text(20)),
    "serial": _Key(_optional(_text(25))),
    "firmware_version": _Key(_text(50)),
}
_CSMS: dict[str, _Key] = {
    "url": _Key(_ws_url, required=True),
    "ocpp_version": _Key(_ocpp_version),
    "password": _Key(_optional(_text())),
    "ca_file": _Key(_optional(_existing_file)),
    "call_timeout_s": _Key(_positive_number),
    "reconnect_min_s": _Key(_positive_number),
    "reconnect_max_s": _Key(_positive_number),  # ≥ reconnect_min_s, checked below
}


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{_show(value)} is not true or false; allowed: true, false")
    return value


_SIM: dict[str, _Key] = {
    "voltage_v": _Key(_number_in(100, 300)),
    "ev_max_current_a": _Key(_number_in(6, 80)),
    "wire": _Key(_boolean),
}
_DEVICE_ROLES = ("controller", "meter", "power")
_CONNECTOR: dict[str, _Key] = {
    "id": _Key(_integer_from(1), required=True),
    "max_current_a": _Key(_number_in(6, 80)),
    "phases": _Key(_one_of((1, 3))),
    # checked by _check_device, with a line for every option
    **{role: _Key(lambda value: value) for role in _DEVICE_ROLES},
}
# Sections whose keys fill fields of Config itself.
_CONFIG_SECTIONS: dict[str, dict[str, _Key]] = {
    "storage": {"dir": _Key(_path, attr="storage_dir")},
    "control": {"socket": _Key(_socket_path, attr="control_socket")},
    "hal": {"driver": _Key(_one_of(DRIVER_NAMES), attr="hal_driver")},
    "reset": {"hard_command": _Key(_optional(_text()), attr="hard_reset_command")},
    "log": {"level": _Key(_one_of(LOG_LEVELS), attr="log_level")},
}
_TOP_LEVEL = (
    "station",
    "csms",
    "storage",
    "control",
    "hal",
    "sim",
    "connectors",
    "ocpp",
    "reset",
    "log",
)
_REQUIRED_TOP_LEVEL = ("station", "csms", "connectors")
_SCALAR = "a number, text or true/false"
_CONNECTOR_EXAMPLE = "e.g. - {id: 1, max_current_a: 32, phases: 3}"


# --- the walker -------------------------------------------------------------------------


@dataclass
class _Checked:
    nodes: dict[str, _Node]  # every known key present, by key name
    values: dict[str, Any]  # the valid ones, by dataclass field name

    def invalid(self, key: str) -> bool:
        return key in self.nodes and key not in self.values


def _mapping(
    node: _Node, path: str, allowed: str, problems: list[_Problem]
) -> dict[str, _Node] | None:
    """The entries of a mapping; a key written with no value counts as an empty mapping."""
    if node.value is None:
        return {}
    if isinstance(node.value, dict):
        return node.value
    problems.append(_Problem(node.line, path, f"{_show(node.value)} is not a mapping; {allowed}"))
    return None


def _known_keys(
    node: _Node | None,
    path: str,
    allowed: Sequence[str],
    required: Sequence[str],
    problems: list[_Problem],
) -> dict[str, _Node]:
    """The entries of a mapping, with unknown and missing keys reported."""
    if node is None:  # the section is absent; reported by its parent if required
        return {}
    names = ", ".join(allowed)
    entries = _mapping(node, path, f"allowed: a mapping with keys {names}", problems)
    if entries is None:
        return {}
    for name, child in entries.items():
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown key; allowed: {names}{hint}"
            problems.append(_Problem(child.line, _join(path, name), message))
    for name in required:
        if name not in entries:
            problems.append(_Problem(node.line, _join(path, name), "required key missing"))
    return {name: child for name, child in entries.items() if name in allowed}


def _check_section(
    node: _Node | None, path: str, keys: dict[str, _Key], problems: list[_Problem]
) -> _Checked:
    required = [name for name, key in keys.items() if key.required]
    nodes = _known_keys(node, path, list(keys), required, problems)
    values: dict[str, Any] = {}
    for name, child in nodes.items():
        key = keys[name]
        try:
            values[key.attr or name] = key.check(child.value)
        except _Invalid as exc:
            problems.append(_Problem(child.line, _join(path, name), str(exc)))
    return _Checked(nodes, values)


def _check_reconnect(csms: _Checked, problems: list[_Problem]) -> None:
    if csms.invalid("reconnect_min_s") or csms.invalid("reconnect_max_s"):
        return
    low = csms.values.get("reconnect_min_s", CsmsConfig.reconnect_min_s)
    high = csms.values.get("reconnect_max_s", CsmsConfig.reconnect_max_s)
    if high >= low:
        return
    if "reconnect_max_s" in csms.nodes:
        node, key = csms.nodes["reconnect_max_s"], "reconnect_max_s"
        message = f"{high:g} is below reconnect_min_s ({low:g}); allowed: a number ≥ {low:g}"
    else:
        node, key = csms.nodes["reconnect_min_s"], "reconnect_min_s"
        message = (
            f"{low:g} is above reconnect_max_s ({high:g}, the default); "
            f"allowed: a number ≤ {high:g}, or set reconnect_max_s too"
        )
    problems.append(_Problem(node.line, _join("csms", key), message))


def _check_connectors(node: _Node | None, problems: list[_Problem]) -> list[_Checked]:
    if node is None:  # reported as a missing key
        return []
    if not isinstance(node.value, list):
        message = f"{_show(node.value)} is not a list; allowed: a list of connectors, "
        problems.append(_Problem(node.line, "connectors", message + _CONNECTOR_EXAMPLE))
        return []
    if not node.value:
        message = f"the list is empty; allowed: at least one connector, {_CONNECTOR_EXAMPLE}"
        problems.append(_Problem(node.line, "connectors", message))
        return []
    connectors = []
    for i, item in enumerate(node.value):
        connector = _check_section(item, _index("connectors", i), _CONNECTOR, problems)
        for role in _DEVICE_ROLES:
            if role in connector.nodes:
                path = _join(_index("connectors", i), role)
                device = _check_device(connector.nodes[role], path, role, problems)
                connector.values[role] = device
        connectors.append(connector)
    # OCPP numbers connectors 1..N without gaps (0 means the whole station).
    count = len(connectors)
    first_use: dict[int, int] = {}
    for i, connector in enumerate(connectors):
        if "id" not in connector.values:
            continue
        number = connector.values["id"]
        line = connector.nodes["id"].line
        path = _join(_index("connectors", i), "id")
        if number in first_use:
            message = (
                f"{number} is already used by connectors[{first_use[number]}]; "
                f"allowed: each id once, numbered 1..{count}"
            )
            problems.append(_Problem(line, path, message))
        elif number > count:
            message = (
                f"{number} leaves a gap; allowed: ids 1..{count} for {count} connectors "
                "(OCPP numbers connectors from 1 without gaps)"
            )
            problems.append(_Problem(line, path, message))
        else:
            first_use[number] = i
    return connectors


def _plain(node: _Node) -> Any:
    """The Python value of a node, without line numbers."""
    if isinstance(node.value, list):
        return [_plain(item) for item in node.value]
    if isinstance(node.value, dict):
        return {key: _plain(child) for key, child in node.value.items()}
    return node.value


def _check_device(
    node: _Node, path: str, role: str, problems: list[_Problem]
) -> DeviceConfig | None:
    """`{driver: NAME, option: value, ...}`, options per the driver's table in hal.registry."""
    from hal.registry import DEVICE_DRIVERS, OptionError

    drivers = DEVICE_DRIVERS[role]
    entries = _mapping(node, path, "allowed: a mapping such as {driver: sim}", problems)
    if entries is None:
        return None
    if "driver" not in entries:
        problems.append(_Problem(node.line, _join(path, "driver"), "required key missing; "
                                 f"allowed: {', '.join(drivers)}"))  # fmt: skip
        return None
    try:
        driver = str(_one_of(tuple(drivers))(entries["driver"].value))
    except _Invalid as exc:
        problems.append(_Problem(entries["driver"].line, _join(path, "driver"), str(exc)))
        return None
    spec = drivers[driver]
    allowed = ["driver", *spec.options]
    options: dict[str, Any] = {}
    for name, child in _known_keys(node, path, allowed, [], problems).items():
        if name != "driver":
            options[name] = _plain(child)
    for name, error in spec.check(options):
        line = entries[name].line if name in entries else node.line
        problems.append(_Problem(line, _join(path, name), error))
    try:
        options = spec.complete(options)
    except OptionError:
        return None
    return DeviceConfig(driver, options)


def _check_ocpp(
    node: _Node | None, version: str | None, connectors: int, problems: list[_Problem]
) -> dict[str, Any]:
    """First-start values of OCPP configuration keys (1.6) or device-model variables (2.0.1)."""
    if node is None:
        return {}
    example = "HeartbeatInterval: 300" if version != "2.0.1" else "OCPPCommCtrlr: {...}"
    entries = _mapping(node, "ocpp", f"allowed: a mapping such as {example}", problems)
    if entries is None or version is None:  # the shape depends on a valid ocpp_version
        return {}
    if version == "1.6":
        # imported here: the 1.6 adapter package may itself import this module
        from chargerd.ocpp16.keys import check_initial_value

        values: dict[str, Any] = {}
        for key, child in entries.items():
            error = check_initial_value(key, child.value)
            if error:
                problems.append(_Problem(child.line, _join("ocpp", key), error))
            values[key] = child.value
        return values

    components: dict[str, Any] = {}
    for component, child in entries.items():
        path = _join("ocpp", component)
        allowed = "allowed: a mapping of variables to values, e.g. {HeartbeatInterval: 300}"
        variables = _mapping(child, path, allowed, problems)
        if variables is None:
            continue
        components[component] = {}
        for variable, value in variables.items():
            if isinstance(value.value, dict | list):
                message = f"{_show(value.value)} is not a single value; allowed: {_SCALAR}"
                problems.append(_Problem(value.line, _join(path, variable), message))
            else:
                from chargerd.ocpp201.variables import check_initial_value as check_201

                error = check_201(component, variable, value.value, connectors=connectors)
                if error:
                    problems.append(_Problem(value.line, _join(path, variable), error))
            components[component][variable] = value.value
    return components


def _build_config(path: Path, root: _Node, problems: list[_Problem]) -> Config | None:
    top = _known_keys(root, "", _TOP_LEVEL, _REQUIRED_TOP_LEVEL, problems)
    station = _check_section(top.get("station"), "station", _STATION, problems)
    csms = _check_section(top.get("csms"), "csms", _CSMS, problems)
    _check_reconnect(csms, problems)
    sim = _check_section(top.get("sim"), "sim", _SIM, problems)
    connectors = _check_connectors(top.get("connectors"), problems)
    fields: dict[str, Any] = {}
    for name, keys in _CONFIG_SECTIONS.items():
        fields.update(_check_section(top.get(name), name, keys, problems).values)
    version = None if csms.invalid("ocpp_version") else csms.values.get("ocpp_version", "1.6")
    ocpp = _check_ocpp(top.get("ocpp"), version, max(1, len(connectors)), problems)
    if problems:
        return None
    return Config(
        path=path,
        station=StationInfo(**station.values),
        csms=CsmsConfig(**csms.values),
        connectors=tuple(ConnectorConfig(**c.values) for c in connectors),
        sim=SimConfig(**sim.values),
        ocpp=ocpp,
        **fields,
    )
