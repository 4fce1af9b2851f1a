"""Device-model values: parsing a wire string or a YAML scalar, and the wire form back."""

from __future__ import annotations

import math
from datetime import datetime

from .components import MAX_SET_LENGTH, Value, Variable


def to_wire(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse(variable: Variable, raw: object) -> Value:
    """A typed value for `variable` from a wire string or a YAML scalar; ValueError says why
    not (in words a CSMS operator or a technician can act on)."""
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif raw is None or isinstance(raw, list | dict):
        raise ValueError(f"must be a single {variable.data_type} value")
    else:
        text = str(raw).strip()
    kind = variable.data_type
    value: Value
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        value = text.lower() == "true"
    elif kind in ("integer", "decimal"):
        value = _number(variable, raw, text)
    elif kind == "OptionList":
        allowed = variable.values_list or ()
        match = next((v for v in allowed if v.casefold() == text.casefold()), None)
        if match is None:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        value = match
    elif kind in ("MemberList", "SequenceList"):
        items = _items(text)
        if variable.values_list is not None:
            by_fold = {v.casefold(): v for v in variable.values_list}
            unknown = [i for i in items if i.casefold() not in by_fold]
            if unknown:
                raise ValueError(
                    f"{unknown[0]!r} is not allowed; allowed: {', '.join(variable.values_list)}"
                )
            items = [by_fold[i.casefold()] for i in items]
        if kind == "MemberList" and len(set(items)) != len(items):
            raise ValueError("lists a member twice")
        value = ",".join(items)
    elif kind == "dateTime":
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 date and time") from None
        value = text
    else:
        limit = int(variable.max_limit) if variable.max_limit is not None else MAX_SET_LENGTH
        if len(text) > limit:
            raise ValueError(f"is longer than {limit} characters")
        value = text
    if variable.check is not None:
        problem = variable.check(value)
        if problem:
            raise ValueError(problem)
    return value


def _number(variable: Variable, raw: object, text: str) -> int | float:
    integer = variable.data_type == "integer"
    try:
        if integer:
            if isinstance(raw, float) or not text.lstrip("+-").isdigit():
                raise ValueError
            number: int | float = int(text)
        else:
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
    except ValueError:
        raise ValueError("must be a whole number" if integer else "must be a number") from None
    low, high = variable.min_limit, variable.max_limit
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = [f"≥ {to_wire(float(low))}" if low is not None else ""]
        bounds.append(f"≤ {to_wire(float(high))}" if high is not None else "")
        raise ValueError("must be " + " and ".join(b for b in bounds if b))
    return number
