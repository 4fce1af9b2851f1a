"""The device model's DisplayMessageCtrlr and TariffCostCtrlr variables (OCPP 2.0.1 O, I):
listed by variables.py at every 2.0.1 start, so apart from the messages (display.py,
imported with the first display or tariff request)."""

from __future__ import annotations

from ..display.kinds import FORMATS, Priority, State
from .components import READ_ONLY, Attribute, Component, Value, Variable

MAX_MESSAGES = 32  # DisplayMessageCtrlr.DisplayMessages maxLimit
PERSONAL_MESSAGE_SIZE = 256  # characters of a personalMessage shown
DEFAULT_CURRENCY = "EUR"

DISPLAY = Component("DisplayMessageCtrlr")
TARIFF_COST = Component("TariffCostCtrlr")


def _var(
    c: Component, name: str, kind: str, default: Value, writable: bool = True, **kw
) -> Variable:
    attribute = (
        Attribute(default=default)
        if writable
        else Attribute(mutability=READ_ONLY, default=default, constant=True)
    )
    return Variable(c, name, kind, (attribute,), **kw)


def variables() -> list[Variable]:
    """The DisplayMessageCtrlr and TariffCostCtrlr variables (variables.py lists them)."""
    return [
        _var(DISPLAY, "Available", "boolean", True, writable=False),
        _var(DISPLAY, "Enabled", "boolean", True),
        # Actual: the messages configured now (dynamic); maxLimit: how many it keeps
        Variable(
            DISPLAY,
            "DisplayMessages",
            "integer",
            (Attribute(mutability=READ_ONLY),),
            max_limit=MAX_MESSAGES,
        ),  # fmt: skip
        _var(
            DISPLAY,
            "SupportedFormats",
            "MemberList",
            ",".join(FORMATS),
            writable=False,
            values_list=FORMATS,
        ),  # fmt: skip
        _var(
            DISPLAY,
            "SupportedPriorities",
            "MemberList",
            ",".join(Priority),
            writable=False,
            values_list=tuple(Priority),
        ),  # fmt: skip
        _var(
            DISPLAY,
            "SupportedStates",
            "MemberList",
            ",".join(State),
            writable=False,
            values_list=tuple(State),
        ),  # fmt: skip
        _var(DISPLAY, "PersonalMessageSize", "integer", PERSONAL_MESSAGE_SIZE, writable=False),
        _var(TARIFF_COST, "Available", "boolean", True, writable=False, instance="Tariff"),
        _var(TARIFF_COST, "Available", "boolean", True, writable=False, instance="Cost"),
        _var(TARIFF_COST, "Enabled", "boolean", True, instance="Tariff"),
        _var(TARIFF_COST, "Enabled", "boolean", True, instance="Cost"),
        _var(TARIFF_COST, "Currency", "string", DEFAULT_CURRENCY, max_limit=3),
        _var(TARIFF_COST, "TariffFallbackMessage", "string", "", max_limit=255),
        _var(TARIFF_COST, "TotalCostFallbackMessage", "string", "", max_limit=255),
    ]
