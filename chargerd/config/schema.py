"""What a section of the file is, and the checks every section shares: known and
required keys, each key's value check, a line for every problem.

A section is one top-level key of the YAML file. It reads its node and returns the
`Config` fields it fills; `Found` carries what one section tells the ones after it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .source import Node, Problem, join, show
from .values import Check, Invalid


@dataclass
class Found:
    """What the sections read so far tell the ones after them."""

    ocpp_version: str | None = "1.6"  # None when csms.ocpp_version is invalid
    connectors: int = 1  # how many connectors are configured (at least 1)
    station_id: str | None = None  # None when station.id is missing or invalid
    # what works but is likely a mistake: printed by check-config and logged at start
    warnings: list[Problem] = field(default_factory=list)


# node of the section (None when absent), what earlier sections found, the problem list
# to add to → the Config fields the section fills (none when it found problems)
Read = Callable[[Node | None, Found, list[Problem]], dict[str, Any]]


@dataclass(frozen=True)
class Section:
    key: str  # the top-level YAML key
    read: Read
    required: bool = False
    keys: tuple[str, ...] = ()  # the keys it accepts, for docs (ocpp's are OCPP's own)


@dataclass(frozen=True)
class Key:
    check: Check
    required: bool = False
    attr: str = ""  # the dataclass field it fills, when not named like the key


@dataclass
class Checked:
    nodes: dict[str, Node]  # every known key present, by key name
    values: dict[str, Any]  # the valid ones, by dataclass field name
    ok: bool = True  # no problem found in the section: its dataclass can be built

    def invalid(self, key: str) -> bool:
        return key in self.nodes and key not in self.values


def mapping(node: Node, path: str, allowed: str, problems: list[Problem]) -> dict[str, Node] | None:
    """The entries of a mapping; a key written with no value counts as an empty mapping."""
    if node.value is None:
        return {}
    if isinstance(node.value, dict):
        return node.value
    problems.append(Problem(node.line, path, f"{show(node.value)} is not a mapping; {allowed}"))
    return None


def known_keys(
    node: Node | None,
    path: str,
    allowed: Sequence[str],
    required: Sequence[str],
    problems: list[Problem],
) -> dict[str, Node]:
    """The entries of a mapping, with unknown and missing keys reported."""
    if node is None:  # the section is absent; reported by its parent if required
        return {}
    names = ", ".join(allowed)
    entries = mapping(node, path, f"allowed: a mapping with keys {names}", problems)
    if entries is None:
        return {}
    for name, child in entries.items():
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown key; allowed: {names}{hint}"
            problems.append(Problem(child.line, join(path, name), message))
    for name in required:
        if name not in entries:
            problems.append(Problem(node.line, join(path, name), "required key missing"))
    return {name: child for name, child in entries.items() if name in allowed}


def check_section(
    node: Node | None, path: str, keys: dict[str, Key], problems: list[Problem]
) -> Checked:
    """Unknown, missing and invalid keys of a section reported; the valid values kept."""
    before = len(problems)
    required = [name for name, key in keys.items() if key.required]
    nodes = known_keys(node, path, list(keys), required, problems)
    values: dict[str, Any] = {}
    for name, child in nodes.items():
        key = keys[name]
        try:
            values[key.attr or name] = key.check(child.value)
        except Invalid as exc:
            problems.append(Problem(child.line, join(path, name), str(exc)))
    ok = len(problems) == before and all((keys[name].attr or name) in values for name in required)
    return Checked(nodes, values, ok)


def dataclass_section(
    key: str, keys: dict[str, Key], make: Callable[..., Any], *, required: bool = False
) -> Section:
    """A section whose keys need no cross-checks, read into the dataclass `make`, which
    fills the Config field named like the key."""

    def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
        checked = check_section(node, key, keys, problems)
        return {key: make(**checked.values)} if checked.ok else {}

    return Section(key, read, required, tuple(keys))


def flat_section(key: str, keys: dict[str, Key]) -> Section:
    """A section whose keys fill fields of Config itself, named by each Key's `attr`."""

    def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
        return check_section(node, key, keys, problems).values

    return Section(key, read, keys=tuple(keys))
