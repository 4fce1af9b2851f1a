"""Reading the YAML file into values that remember their line, and writing problems as
`{file}:{line}: {key.path}: {what is wrong}; {what is allowed}`.

Nothing here knows a key of the schema; the section modules do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based line in the file; None when the value came from --set
    path: str  # key path such as connectors[1].phases; empty for the whole document
    message: str  # what is wrong; what is allowed


_HUGE = 10**18  # no configuration number comes near this
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]|[^\S ]")  # control characters, odd spaces


def format_problems(problems: list[Problem], file: str, kind: str = "") -> list[str]:
    """One line per problem, in file order, the --set ones last; control characters
    (a line break in a key, say) are shown escaped so each problem stays one line.
    `kind` ("warning") is written after the place, as compilers do."""
    lines = []
    tag = f"{kind}: " if kind else ""
    for problem in sorted(problems, key=lambda p: (p.line is None, p.line or 0)):
        if problem.line is None:
            lines.append(f"--set {tag}{problem.path}: {problem.message}")
        elif problem.path:
            lines.append(f"{file}:{problem.line}: {tag}{problem.path}: {problem.message}")
        else:
            lines.append(f"{file}:{problem.line}: {tag}{problem.message}")
    return [_CONTROL.sub(lambda m: repr(m.group())[1:-1], line) for line in lines]


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def show(value: object) -> str:
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
class Node:
    """A YAML value: a scalar, dict[str, Node] or list[Node], and where it was written."""

    value: Any
    line: int | None  # the line of its key (of the item, in a list); None for --set values


# Limits that stop alias bombs (`&a [*a, *a, ...]`) and recursive aliases early.
_MAX_DEPTH = 32
_MAX_VALUES = 100_000


def compose(file: str) -> tuple[yaml.Node | None, str | None]:
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


class Reader:
    """Turns composed YAML nodes into Node values, noting each value's line."""

    def __init__(self, problems: list[Problem], from_file: bool) -> None:
        self.problems = problems
        self.from_file = from_file
        self.values_left = _MAX_VALUES
        self.overflowed = False
        self.constructor = yaml.constructor.SafeConstructor()

    def line_of(self, node: yaml.Node) -> int | None:
        return node.start_mark.line + 1 if self.from_file else None

    def read(self, node: yaml.Node, path: str, line: int | None, depth: int = 0) -> Node:
        self.values_left -= 1
        if depth > _MAX_DEPTH or self.values_left < 0:
            if not self.overflowed:
                self.overflowed = True
                message = (
                    f"nested too deeply or too large (a recursive alias?); allowed: at most "
                    f"{_MAX_DEPTH} levels and {_MAX_VALUES} values"
                )
                self.problems.append(Problem(line, path, message))
            return Node(None, line)
        if isinstance(node, yaml.MappingNode):
            return Node(self.read_mapping(node, path, depth), line)
        if isinstance(node, yaml.SequenceNode):
            items = [
                self.read(item, index(path, i), self.line_of(item), depth + 1)
                for i, item in enumerate(node.value)
            ]
            return Node(items, line)
        return Node(self.read_scalar(node, path, line), line)

    def read_scalar(self, node: yaml.Node, path: str, line: int | None) -> object:
        try:
            value = self.constructor.construct_object(node)
        except Exception:  # pyyaml raises assorted errors for mis-tagged values (!!int x)
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            message = f"{node.value!r} cannot be read as {tag}; allowed: untagged values"
            self.problems.append(Problem(line, path, message))
            return node.value
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _HUGE:
            self.problems.append(Problem(line, path, "the number is far too large"))
            return math.inf  # keeps later checks from printing thousands of digits
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.problems.append(Problem(line, path, "contains invalid characters "
                                              "(lone surrogates); allowed: text"))  # fmt: skip
                return value.encode("utf-8", "replace").decode("utf-8")
        return value

    def read_mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        merged: list[dict[str, Node]] = []
        for key_node, value_node in node.value:
            line = self.line_of(key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`
                merged.extend(self.read_merge(value_node, path, line, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                message = f"{show(key_node.value)} used as a key; allowed: plain names"
                self.problems.append(Problem(line, path, message))
                continue
            key = key_node.value
            if key in entries:
                first = entries[key].line
                message = "duplicate key" + (f" (first on line {first})" if first else "")
                self.problems.append(Problem(line, join(path, key), message + "; allowed: once"))
                continue
            entries[key] = self.read(value_node, join(path, key), line, depth + 1)
        # YAML merge rules: keys written here win, then earlier merged mappings.
        for source in merged:
            for key, value in source.items():
                entries.setdefault(key, value)
        return entries

    def read_merge(
        self, node: yaml.Node, path: str, line: int | None, depth: int
    ) -> list[dict[str, Node]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        mappings = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                message = "merges only mappings; allowed: <<: *name or <<: [*a, *b]"
                self.problems.append(Problem(line, join(path, "<<"), message))
                continue
            mappings.append(self.read(source, path, line, depth + 1).value)
        return [m for m in mappings if isinstance(m, dict)]


def plain(node: Node) -> Any:
    """The Python value of a node, without line numbers."""
    if isinstance(node.value, list):
        return [plain(item) for item in node.value]
    if isinstance(node.value, dict):
        return {key: plain(child) for key, child in node.value.items()}
    return node.value
