"""The JSON-schema keywords chargerd/schema.py compiles: for each keyword of Draft 4 the
`ocpp` package's schemas use, a builder that checks the keyword's value in the schema and
returns the closure that checks an instance, raising `Invalid` with jsonschema's message.
What a keyword means lives here; how a document, its $refs and its keyword order are
compiled lives in schema.py."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

Check = Callable[[Any], None]  # raises Invalid on the first violation

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


class Invalid(Exception):
    """An instance breaks a keyword; the path is collected while the checks unwind."""

    def __init__(self, keyword: str, message: str):
        super().__init__(message)
        self.keyword, self.message = keyword, message
        self.reversed_path: list[str | int] = []  # filled while the checks unwind


class Compiler(Protocol):
    """What a builder needs of the document being compiled (schema._Document)."""

    def fail(self, where: str, why: str) -> Exception: ...

    def compile(self, schema: Any, where: str) -> Check: ...


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


def live_after(types: list[str], keyword: str) -> bool:
    """Whether `keyword` can still fail once the instance is known to be one of `types`."""
    wanted = APPLIES_TO.get(keyword)
    return wanted is None or any(t == wanted or (wanted, t) == ("number", "integer") for t in types)



Builder = Callable[[Compiler, Any, Mapping[str, Any], str], "Check | None"]


def _type(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(n not in TYPES for n in names):
        raise doc.fail(where, f"type {value!r} not supported")
    shown = ", ".join(repr(n) for n in names)
    if len(names) == 1:  # every OCPP field: its usual Python type first, the rule after
        usual, test = USUAL[names[0]], TYPES[names[0]]

        def one(x: Any) -> None:
            if type(x) is not usual and not test(x):
                raise Invalid("type", f"{x!r} is not of type {shown}")

        return one
    tests = tuple(TYPES[n] for n in names)

    def any_of(x: Any) -> None:
        if not any(test(x) for test in tests):
            raise Invalid("type", f"{x!r} is not of type {shown}")

    return any_of


def _properties(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, dict):
        raise doc.fail(where, "properties must be an object")
    members = tuple((name, doc.compile(sub, f"{where}/{name}")) for name, sub in value.items())

    def properties(x: Any) -> None:
        if isinstance(x, dict):
            for name, check in members:
                if name in x:
                    try:
                        check(x[name])
                    except Invalid as invalid:
                        invalid.reversed_path.append(name)
                        raise

    return properties


def _required(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise doc.fail(where, "required must be a list of names (Draft 4)")
    names, needed = tuple(value), frozenset(value)

    def required(x: Any) -> None:
        if isinstance(x, dict) and not x.keys() >= needed:
            missing = next(n for n in names if n not in x)
            raise Invalid("required", f"{missing!r} is a required property")

    return required


def _additional_properties(
    doc: Compiler, value: Any, schema: Mapping[str, Any], where: str
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
            raise Invalid(
                "additionalProperties",
                f"Additional properties are not allowed ({shown} {verb} unexpected)",
            )

    return additional_properties


def _enum(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, list):
        raise doc.fail(where, "enum must be a list")
    message = f" is not one of {value!r}"
    if all(isinstance(m, str) for m in value):  # every enum of the OCPP schemas
        members = frozenset(value)

        def strings(x: Any) -> None:
            if not (isinstance(x, str) and x in members):
                raise Invalid("enum", f"{x!r}{message}")

        return strings
    options = tuple(value)

    def enum(x: Any) -> None:
        if not any(_equal(m, x) for m in options):
            raise Invalid("enum", f"{x!r}{message}")

    return enum


def _max_length(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    limit = _count(doc, value, where)
    said = "is expected to be empty" if limit == 0 else "is too long"

    def max_length(x: Any) -> None:
        if isinstance(x, str) and len(x) > limit:  # code points, as jsonschema counts
            raise Invalid("maxLength", f"{x!r} {said}")

    return max_length


def _items(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
    if not isinstance(value, dict):
        raise doc.fail(where, "items as a list (tuple validation) not supported")
    item_check = doc.compile(value, where)

    def items(x: Any) -> None:
        if isinstance(x, list):
            for index, item in enumerate(x):
                try:
                    item_check(item)
                except Invalid as invalid:
                    invalid.reversed_path.append(index)
                    raise

    return items


def _item_count(keyword: str) -> Builder:
    fewest = keyword == "minItems"

    def build(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
        bound = _count(doc, value, where)
        if fewest:
            said = "should be non-empty" if bound == 1 else "is too short"
        else:
            said = "is expected to be empty" if bound == 0 else "is too long"

        def item_count(x: Any) -> None:
            if isinstance(x, list) and (len(x) < bound if fewest else len(x) > bound):
                raise Invalid(keyword, f"{x!r} {said}")

        return item_count

    return build


def _range(keyword: str) -> Builder:
    lowest = keyword == "minimum"
    said = "less than the minimum" if lowest else "greater than the maximum"

    def build(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
        if not _is_number(value):
            raise doc.fail(where, "must be a number")

        def in_range(x: Any) -> None:
            if _is_number(x) and (x < value if lowest else x > value):
                raise Invalid(keyword, f"{x!r} is {said} of {value!r}")

        return in_range

    return build


def _multiple_of(doc: Compiler, value: Any, schema: Mapping[str, Any], where: str) -> Check:
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
                raise Invalid("multipleOf", f"{x!r} is not a multiple of {value}")

    return multiple_of


def _decimal_ratio(x: Any) -> tuple[int, int]:
    """The number as JSON writes it, as a fraction: 11.1 is 111/10, not the binary float."""
    if isinstance(x, float):
        x = Decimal(repr(x))
    num, den = x.as_integer_ratio()
    return num, den


def _count(doc: Compiler, value: Any, where: str) -> int:
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
