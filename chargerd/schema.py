"""JSON-schema validation of OCPP payloads: the subset of Draft 4 that the `ocpp` package's
1.6 and 2.0.1 schemas use, compiled once per schema into plain closures.

Why not `jsonschema`: with `referencing`, `rpds` and `attrs` it costs the daemon about 4 MB
resident and tens of ms of import, and 45–110 µs per message validated.

The verdicts are those of jsonschema's `Draft4Validator` without a format checker (so
`format` is not checked), and so is the first violation found: keywords are checked in the
schema's own order, properties in the order the schema lists them, and the messages read
like jsonschema's. One deliberate difference: `multipleOf` is decided in decimal, on the
number as JSON writes it (11.1 is a multiple of 0.1), which is what an OCPP schedule's
"multiple of 0.1" means; a binary float check refuses 11.1.

The keywords themselves are built in schema_keywords.py; this module compiles a document
(its $refs, its keyword order) and reports the first violation. A keyword we do not know
(or a form of one we do not implement, such as `items` as a list) makes the compilation
fail with `SchemaUnsupported`: a future `ocpp` release with a new keyword fails loudly in the
tests instead of being ignored in the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema_keywords import BUILDERS, IGNORED, Check, Invalid, live_after


class SchemaUnsupported(ValueError):
    """The schema uses a keyword, or a form of one, that this module does not implement."""


@dataclass(frozen=True)
class Violation:
    """The first thing an instance breaks: the keyword, where (property names and item
    indices from the root), and a message in jsonschema's words."""

    keyword: str
    path: tuple[str | int, ...]
    message: str


class Validator:
    """One compiled schema."""

    def __init__(self, check: Check):
        self._check = check

    def first_violation(self, instance: Any) -> Violation | None:
        try:
            self._check(instance)
        except Invalid as invalid:
            path = tuple(reversed(invalid.reversed_path))
            return Violation(invalid.keyword, path, invalid.message)
        return None

    def is_valid(self, instance: Any) -> bool:
        return self.first_violation(instance) is None


def load(path: Path) -> Validator:
    """Compile a schema file (the 2.0.1 files start with a byte order mark)."""
    return compile_schema(json.loads(path.read_text(encoding="utf-8-sig")), str(path.name))


def compile_schema(schema: Mapping[str, Any], name: str = "schema") -> Validator:
    """Compile a whole schema document; raise SchemaUnsupported for what we do not know."""
    document = _Document(schema, name)
    check = document.compile(schema, "#")
    for definition in schema.get("definitions", {}):  # so that unused ones are checked too
        document.ref(f"#/definitions/{definition}", "#/definitions")
    return Validator(check)


# --- compilation -------------------------------------------------------------------------------


class _Document:
    """A schema document being compiled: its definitions, compiled once each."""

    def __init__(self, root: Mapping[str, Any], name: str):
        self.root, self.name = root, name
        self.refs: dict[str, Check | None] = {}  # None: being compiled (a recursive $ref)

    def fail(self, where: str, why: str) -> SchemaUnsupported:
        return SchemaUnsupported(f"{self.name} {where}: {why}")

    def compile(self, schema: Any, where: str) -> Check:
        if not isinstance(schema, dict):
            raise self.fail(where, f"a schema must be an object, not {schema!r}")
        unknown = sorted(schema.keys() - IGNORED - BUILDERS.keys() - {"$ref"})
        if unknown:
            raise self.fail(where, f"keyword(s) {', '.join(unknown)} not supported")
        if "$ref" in schema:  # Draft 4 ignores the siblings of $ref
            return self.ref(schema["$ref"], where)
        checks: list[Check] = []
        types: list[str] | None = None
        for keyword, value in schema.items():
            if keyword in IGNORED:
                continue
            check = BUILDERS[keyword](self, value, schema, f"{where}/{keyword}")
            # a keyword after a failed "type" could only report a second violation
            if check is not None and (types is None or live_after(types, keyword)):
                checks.append(check)
            if keyword == "type":
                types = [value] if isinstance(value, str) else list(value)
        return _all(checks)

    def ref(self, ref: Any, where: str) -> Check:
        prefix = "#/definitions/"
        name = ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else ""
        if not name or any(c in name for c in "/~%"):
            raise self.fail(where, f"$ref {ref!r} is not #/definitions/<name>")
        if name not in self.refs:
            definitions = self.root.get("definitions", {})
            if name not in definitions:
                raise self.fail(where, f"$ref {ref!r}: no such definition")
            self.refs[name] = None
            self.refs[name] = self.compile(definitions[name], f"{prefix}{name}")
        compiled = self.refs[name]
        if compiled is None:  # recursion: look it up when used, it is compiled by then
            refs = self.refs
            return lambda x: refs[name](x)  # type: ignore[misc]
        return compiled


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _nothing
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks

        def both(x: Any) -> None:
            first(x)
            second(x)

        return both
    every = tuple(checks)

    def each(x: Any) -> None:
        for check in every:
            check(x)

    return each


def _nothing(x: Any) -> None:
    return None

