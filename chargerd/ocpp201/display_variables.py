"""The device model's DisplayMessageCtrlr and TariffCostCtrlr variables (OCPP 2.0.1 O, I):
listed by variables.py at every 2.0.1 start, so apart from the messages (display.py,
imported with the first display or tariff request)."""

from __future__ import annotations

from ..display.kinds import FORMATS, Priority, State
from .components import Component, Variable, dynamic, read_only, read_write

MAX_MESSAGES = 32  # DisplayMessageCtrlr.DisplayMessages maxLimit
PERSONAL_MESSAGE_SIZE = 256  # characters of a personalMessage shown
DEFAULT_CURRENCY = "EUR"

DISPLAY = Component("DisplayMessageCtrlr")
TARIFF_COST = Component("TariffCostCtrlr")


def _supported(name: str, values: tuple[str, ...]) -> Variable:
    """A read-only MemberList of the display's `values`."""
    return read_only(DISPLAY, name, "MemberList", ",".join(values), values_list=values)


def variables() -> list[Variable]:
    """The DisplayMessageCtrlr and TariffCostCtrlr variables (variables.py lists them)."""
    return [
        read_only(DISPLAY, "Available", "boolean", True),
        read_write(DISPLAY, "Enabled", "boolean", True),
        # Actual: the messages configured now (dynamic); maxLimit: how many it keeps
        dynamic(DISPLAY, "DisplayMessages", "integer", max_limit=MAX_MESSAGES),
        _supported("SupportedFormats", FORMATS),
        _supported("SupportedPriorities", tuple(Priority)),
        _supported("SupportedStates", tuple(State)),
        read_only(DISPLAY, "PersonalMessageSize", "integer", PERSONAL_MESSAGE_SIZE),
        read_only(TARIFF_COST, "Available", "boolean", True, instance="Tariff"),
        read_only(TARIFF_COST, "Available", "boolean", True, instance="Cost"),
        read_write(TARIFF_COST, "Enabled", "boolean", True, instance="Tariff"),
        read_write(TARIFF_COST, "Enabled", "boolean", True, instance="Cost"),
        read_write(TARIFF_COST, "Currency", "string", DEFAULT_CURRENCY, max_limit=3),
        read_write(TARIFF_COST, "TariffFallbackMessage", "string", "", max_limit=255),
        read_write(TARIFF_COST, "TotalCostFallbackMessage", "string", "", max_limit=255),
    ]
