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

A keyword this module does not know (or a form of one it does not implement, such as
`items` as a list) makes the compilation fail with `SchemaUnsupported`: a future `ocpp`
release with a new keyword fails loudly in the tests instead of being ignored in the field.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

Check = Callable[[Any], None]  # raises _Invalid on the first violation

# keywords with no effect on the verdict (annotations; `format` is not checked by
# Draft4Validator without a format checker; `additionalItems` only matters when `items`
# is a list, which _items refuses)
IGNORED = frozenset(
    {"$schema", "$id", "title", "description", "comment", "javaType", "default", "format",
     "definitions", "additionalItems"}
)  # fmt: skip

# the instance type each keyword looks at; other instances pass it
APPLIES_TO = {
    "properties": "object", "required": "object", "additionalProperties": "object",
    "maxLength": "string",
    "items": "array", "minItems": "array", "maxItems": "array",
    "minimum": "number", "maximum": "number", "multipleOf": "number",
}  # fmt: skip


class SchemaUnsupported(ValueError):
    """The schema uses a keyword, or a form of one, that this module does not implement."""


@dataclass(frozen=True)
class Violation:
    """The first thing an instance breaks: the keyword, where (property names and item
    indices from the root), and a message in jsonschema's words."""

    keyword: str
    path: tuple[str | int, ...]
    message: str


class _Invalid(Exception):
    def __init__(self, keyword: str, message: str):
        super().__init__(message)
        self.keyword, self.message = keyword, message
        self.reversed_path: list[str | int] = []  # filled while the checks unwind


class Validator:
    """One compiled schema."""

    def __init__(self, check: Check):
        self._check = check

    def first_violation(self, instance: Any) -> Violation | None:
        try:
            self._check(instance)
        except _Invalid as invalid:
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


# --- types -------------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    t = type(x)
    return t is int or t is float or (isinstance(x, numbers.Number) and not isinstance(x, bool))


def _is_integer(x: Any) -> bool:  # Draft 4: 1.0 is a number, not an integer; True is neither
    return isinstance(x, int) and not isinstance(x, bool)


TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda x: isinstance(x, str),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "integer": _is_integer,
    "number": _is_number,
    "null": lambda x: x is None,
}


# the Python type json.loads gives for each JSON type (number: also int, then _is_number)
USUAL: dict[str, type] = {
    "string": str, "object": dict, "array": list, "boolean": bool, "integer": int,
    "number": float, "null": type(None),
}  # fmt: skip


def _live_after(types: list[str], keyword: str) -> bool:
    """Whether `keyword` can still fail once the instance is known to be one of `types`."""
    wanted = APPLIES_TO.get(keyword)
    return wanted is None or any(t == wanted or (wanted, t) == ("number", "integer") for t in types)


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
            if check is not None and (types is None or _live_after(types, keyword)):
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


Builder = Callable[[_Document, Any, Mapping[str, Any], str], "Check | None"]


def _type(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in TYPES for n in names):
        raise doc.fail(where, f"type {value!r} not supported")
    shown = ", ".join(repr(n) for n in names)
    if len(names) == 1:  # every OCPP field: its usual Python type first, the rule after
        usual, test = USUAL[names[0]], TYPES[names[0]]

        def one(x: Any) -> None:
            if type(x) is not usual and not test(x):
                raise _Invalid("type", f"{x!r} is not of type {shown}")

        return one
    tests = tuple(TYPES[n] for n in names)

    def any_of(x: Any) -> None:
        if not any(test(x) for test in tests):
            raise _Invalid("type", f"{x!r} is not of type {shown}")

    return any_of


def _properties(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, dict):
        raise doc.fail(where, "properties must be an object")
    members = tuple((name, doc.compile(sub, f"{where}/{name}")) for name, sub in value.items())

    def properties(x: Any) -> None:
        if isinstance(x, dict):
            for name, check in members:
                if name in x:
                    try:
                        check(x[name])
                    except _Invalid as invalid:
                        invalid.reversed_path.append(name)
                        raise

    return properties


def _required(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise doc.fail(where, "required must be a list of names (Draft 4)")
    names, needed = tuple(value), frozenset(value)

    def required(x: Any) -> None:
        if isinstance(x, dict) and not x.keys() >= needed:
            missing = next(n for n in names if n not in x)
            raise _Invalid("required", f"{missing!r} is a required property")

    return required


def _additional_properties(
    doc: _Document, value: Any, schema: Mapping[str, Any], where: str
) -> Check | None:
    if not isinstance(value, bool):
        raise doc.fail(where, "additionalProperties must be true or false")
    if value:
        return None
    allowed = frozenset(schema.get("properties", {}))

    def additional_properties(x: Any) -> None:
        if isinstance(x, dict) and not x.keys() <= allowed:
            extras = sorted((k for k in x if k not in allowed), key=str)
            verb = "was" if len(extras) == 1 else "were"
            shown = ", ".join(repr(k) for k in extras)
            raise _Invalid(
                "additionalProperties",
                f"Additional properties are not allowed ({shown} {verb} unexpected)",
            )

    return additional_properties


def _enum(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, list):
        raise doc.fail(where, "enum must be a list")
    message = f" is not one of {value!r}"
    if all(isinstance(m, str) for m in value):  # every enum of the OCPP schemas
        members = frozenset(value)

        def strings(x: Any) -> None:
            if not (isinstance(x, str) and x in members):
                raise _Invalid("enum", f"{x!r}{message}")

        return strings
    options = tuple(value)

    def enum(x: Any) -> None:
        if not any(_equal(m, x) for m in options):
            raise _Invalid("enum", f"{x!r}{message}")

    return enum


def _max_length(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    limit = _count(doc, value, where)
    said = "is expected to be empty" if limit == 0 else "is too long"

    def max_length(x: Any) -> None:
        if isinstance(x, str) and len(x) > limit:  # code points, as jsonschema counts
            raise _Invalid("maxLength", f"{x!r} {said}")

    return max_length


def _items(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, dict):
        raise doc.fail(where, "items as a list (tuple validation) not supported")
    item_check = doc.compile(value, where)

    def items(x: Any) -> None:
        if isinstance(x, list):
            for index, item in enumerate(x):
                try:
                    item_check(item)
                except _Invalid as invalid:
                    invalid.reversed_path.append(index)
                    raise

    return items


def _item_count(keyword: str) -> Builder:
    fewest = keyword == "minItems"

    def build(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
        bound = _count(doc, value, where)
        if fewest:
            said = "should be non-empty" if bound == 1 else "is too short"
        else:
            said = "is expected to be empty" if bound == 0 else "is too long"

        def item_count(x: Any) -> None:
            if isinstance(x, list) and (len(x) < bound if fewest else len(x) > bound):
                raise _Invalid(keyword, f"{x!r} {said}")

        return item_count

    return build


def _range(keyword: str) -> Builder:
    lowest = keyword == "minimum"
    said = "less than the minimum" if lowest else "greater than the maximum"

    def build(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
        if not _is_number(value):
            raise doc.fail(where, "must be a number")

        def in_range(x: Any) -> None:
            if _is_number(x) and (x < value if lowest else x > value):
                raise _Invalid(keyword, f"{x!r} is {said} of {value!r}")

        return in_range

    return build


def _multiple_of(doc: _Document, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not _is_number(value) or not value > 0:
        raise doc.fail(where, "multipleOf must be a number above 0")
    step_num, step_den = _decimal_ratio(value)

    def multiple_of(x: Any) -> None:
        if _is_number(x):
            try:
                num, den = _decimal_ratio(x)
                whole = (num * step_den) % (den * step_num) == 0  # x / step, exactly
            except (ValueError, OverflowError, TypeError, AttributeError):
                whole = False  # NaN, infinity: no multiple of anything
            if not whole:
                raise _Invalid("multipleOf", f"{x!r} is not a multiple of {value}")

    return multiple_of


def _decimal_ratio(x: Any) -> tuple[int, int]:
    """The number as JSON writes it, as a fraction: 11.1 is 111/10, not the binary float."""
    if isinstance(x, float):
        x = Decimal(repr(x))
    num, den = x.as_integer_ratio()
    return num, den


def _count(doc: _Document, value: Any, where: str) -> int:
    if not _is_integer(value) or value < 0:
        raise doc.fail(where, "must be a whole number ≥ 0")
    return int(value)


BUILDERS: dict[str, Builder] = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "additionalProperties": _additional_properties,
    "enum": _enum,
    "maxLength": _max_length,
    "items": _items,
    "minItems": _item_count("minItems"),
    "maxItems": _item_count("maxItems"),
    "minimum": _range("minimum"),
    "maximum": _range("maximum"),
    "multipleOf": _multiple_of,
}


# --- enum equality, as jsonschema's: 1 == 1.0, but True is not 1 -------------------------------

_TRUE, _FALSE = object(), object()


def _unbool(x: Any) -> Any:
    return _TRUE if x is True else _FALSE if x is False else x


def _equal(one: Any, two: Any) -> bool:
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(k in two and _equal(v, two[k]) for k, v in one.items())
    return bool(_unbool(one) == _unbool(two))
