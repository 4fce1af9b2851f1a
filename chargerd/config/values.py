"""Checks of single values: each returns the value to store or raises Invalid with
`{what is wrong}; {what is allowed}`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .source import show


class Invalid(Exception):
    """A value is wrong; the message says what is wrong and what is allowed."""


Check = Callable[[Any], Any]  # returns the value to store, or raises Invalid


def text(max_len: int | None = None) -> Check:
    allowed = f"text of 1..{max_len} characters" if max_len else "non-empty text"

    def check(value: object) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise Invalid(f"{show(value)} is a number; allowed: {allowed}, in quotes")
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not text; allowed: {allowed}")
        if not value:
            raise Invalid(f"'' is empty; allowed: {allowed}")
        if max_len is not None and len(value) > max_len:
            raise Invalid(f"{show(value)} is {len(value)} characters long; allowed: {allowed}")
        return value

    return check


def optional(check: Check) -> Check:
    def optional(value: object) -> object:
        return None if value is None else check(value)

    return optional


def as_number(value: object, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{show(value)} is not a number; allowed: {allowed}")
    if not math.isfinite(value):
        raise Invalid(f"{show(value)} is not a finite number; allowed: {allowed}")
    return float(value)


def number_in(low: float, high: float) -> Check:
    allowed = f"a number from {low:g} to {high:g}"

    def check(value: object) -> float:
        number = as_number(value, allowed)
        if not low <= number <= high:
            raise Invalid(f"{show(value)} is out of range; allowed: {allowed}")
        return number

    return check


def positive_number(value: object) -> float:
    number = as_number(value, "a number > 0")
    if number <= 0:
        raise Invalid(f"{show(value)} is not above 0; allowed: a number > 0")
    return number


def integer_from(minimum: int) -> Check:
    allowed = f"a whole number ≥ {minimum}"

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{show(value)} is not a whole number; allowed: {allowed}")
        if value < minimum:
            raise Invalid(f"{show(value)} is too small; allowed: {allowed}")
        return value

    return check


def integer_in(low: int, high: int) -> Check:
    allowed = f"a whole number from {low} to {high}"

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{show(value)} is not a whole number; allowed: {allowed}")
        if not low <= value <= high:
            raise Invalid(f"{show(value)} is out of range; allowed: {allowed}")
        return value

    return check


def one_of(choices: Sequence[object]) -> Check:
    def check(value: object) -> object:
        # compare types too: YAML `true` must not pass as 1
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        raise Invalid(f"{show(value)} is not one of {', '.join(show(c) for c in choices)}")

    return check


def path_value(value: object) -> Path:
    return Path(text()(value))


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{show(value)} is not true or false; allowed: true, false")
    return value
