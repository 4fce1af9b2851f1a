"""`site:` the grid connection all connectors share (local load balancing), and optionally
the grid meter that measures the whole building's draw on it.

Absent: no site limit. Present: `max_current_a` is required; the meter is a device block
like a connector's (`{driver: ..., options}`), checked by hal's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hal.options import DeviceConfig

from .connectors import check_device
from .schema import Found, Key, Section, check_section
from .source import Node, Problem, show
from .values import Invalid, as_number, number_in

MIN_OFFER_A = 6.0  # the smallest current a charging session can be given (IEC 61851)


@dataclass(frozen=True)
class SiteConfig:
    max_current_a: float  # per phase, all connectors together
    margin_a: float = 1.0  # kept free under the grid meter's budget
    fallback_current_a: float = 6.0  # per session while the grid meter fails
    meter: DeviceConfig | None = None  # the grid meter; None: the budget is max_current_a


def fallback_current(value: object) -> float:
    allowed = "0 (pause every session) or a number from 6 to 1000"
    number = as_number(value, allowed)
    if number != 0 and not MIN_OFFER_A <= number <= 1000:
        raise Invalid(f"{show(value)} is out of range; allowed: {allowed}")
    return number


KEYS: dict[str, Key] = {
    "max_current_a": Key(number_in(MIN_OFFER_A, 10_000), required=True),
    "margin_a": Key(number_in(0, 1000)),
    "fallback_current_a": Key(fallback_current),
    "meter": Key(lambda value: value),  # checked by check_device, a line for every option
}


def read(node: Node | None, found: Found, problems: list[Problem]) -> dict[str, Any]:
    if node is None:
        return {}
    before = len(problems)
    site = check_section(node, "site", KEYS, problems)
    if "meter" in site.nodes:
        site.values["meter"] = check_device(site.nodes["meter"], "site.meter", "meter", problems)
    values = site.values
    limit = values.get("max_current_a")
    if limit is not None:
        # a fallback above the site would overload it; a margin as large leaves nothing
        fallback, margin = values.get("fallback_current_a", 0), values.get("margin_a", 0)
        if fallback > limit:
            message = f"{fallback:g} is above max_current_a ({limit:g}); allowed: at most it"
            problems.append(Problem(site.nodes["fallback_current_a"].line,
                                    "site.fallback_current_a", message))  # fmt: skip
        if margin >= limit:
            message = f"{margin:g} leaves nothing of max_current_a ({limit:g}); allowed: less"
            problems.append(Problem(site.nodes["margin_a"].line, "site.margin_a", message))
    if len(problems) > before or not site.ok:
        return {}
    return {"site": SiteConfig(**values)}


SECTION = Section("site", read, keys=tuple(KEYS))
