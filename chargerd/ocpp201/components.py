"""The vocabulary of the OCPP 2.0.1 device model: components, variables, attributes.

A `Variable` is one variable of one component (an EVSE-bound component is one component
per EVSE). It has attributes (Actual, and Target/MinSet/MaxSet where the station knows
them), each with a mutability, and characteristics (data type, unit, limits, the list of
allowed values). Plain data: values live in `device_model.DeviceModel`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Value = bool | int | float | str

ACTUAL, TARGET, MIN_SET, MAX_SET = "Actual", "Target", "MinSet", "MaxSet"
ATTRIBUTE_TYPES = (ACTUAL, TARGET, MIN_SET, MAX_SET)
READ_ONLY, READ_WRITE, WRITE_ONLY = "ReadOnly", "ReadWrite", "WriteOnly"
DATA_TYPES = (
    "string",
    "decimal",
    "integer",
    "dateTime",
    "boolean",
    "OptionList",
    "SequenceList",
    "MemberList",
)

MAX_VALUE_LENGTH = 2500  # attributeValue in GetVariables results and NotifyReport
MAX_SET_LENGTH = 1000  # attributeValue of SetVariables


class Status:
    """GetVariableStatusEnumType / SetVariableStatusEnumType values."""

    Accepted = "Accepted"
    Rejected = "Rejected"
    UnknownComponent = "UnknownComponent"
    UnknownVariable = "UnknownVariable"
    NotSupportedAttributeType = "NotSupportedAttributeType"
    RebootRequired = "RebootRequired"


@dataclass(frozen=True)
class Component:
    name: str
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.instance is not None:
            out["instance"] = self.instance
        if self.evse is not None:
            out["evse"] = {"id": self.evse}
            if self.connector is not None:
                out["evse"]["connectorId"] = self.connector
        return out

    @property
    def key(self) -> str:
        text = self.name + (f":{self.instance}" if self.instance is not None else "")
        if self.evse is not None:
            text += f"/{self.evse}"
            if self.connector is not None:
                text += f"/{self.connector}"
        return text


@dataclass(frozen=True)
class Attribute:
    type: str = ACTUAL
    mutability: str = READ_WRITE
    default: Value | None = None  # None with ReadOnly: asked of the runtime (dynamic)
    constant: bool = False  # never changes (reported as `constant` in NotifyReport)

    @property
    def writable(self) -> bool:
        return self.mutability != READ_ONLY

    @property
    def readable(self) -> bool:
        return self.mutability != WRITE_ONLY

    @property
    def dynamic(self) -> bool:
        return self.mutability == READ_ONLY and self.default is None


Check = Callable[[Value], str | None]  # a further rule on a parsed value: an error or None


@dataclass(frozen=True)
class Variable:
    component: Component
    name: str
    data_type: str
    attributes: tuple[Attribute, ...]
    instance: str | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None  # for strings: the maximum length
    values_list: tuple[str, ...] | None = None
    reboot: bool = False  # a change takes effect after a reboot (RebootRequired)
    summary: bool = False  # part of a SummaryInventory report
    monitorable: bool = False  # a hardware value monitors can watch (chargerd/monitoring)
    check: Check | None = field(default=None, compare=False, hash=False, repr=False)

    def attribute(self, type_: str) -> Attribute | None:
        return next((a for a in self.attributes if a.type == type_), None)

    @property
    def writable(self) -> bool:
        return any(a.writable for a in self.attributes)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.instance is not None:
            out["instance"] = self.instance
        return out

    @property
    def key(self) -> str:
        return self.component.key + "." + self.name + (f":{self.instance}" if self.instance else "")

    def characteristics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataType": self.data_type, "supportsMonitoring": self.monitorable}
        if self.unit:
            out["unit"] = self.unit
        if self.min_limit is not None:
            out["minLimit"] = self.min_limit
        if self.max_limit is not None:
            out["maxLimit"] = self.max_limit
        if self.values_list:
            out["valuesList"] = ",".join(self.values_list)[:1000]
        return out


def read_write(c: Component, name: str, kind: str, default: Value, **kw: Any) -> Variable:
    """A variable the CSMS may set, starting at `default`."""
    return Variable(c, name, kind, (Attribute(default=default),), **kw)


def read_only(c: Component, name: str, kind: str, value: Value, **kw: Any) -> Variable:
    """A constant: always `value`."""
    attribute = Attribute(mutability=READ_ONLY, default=value, constant=True)
    return Variable(c, name, kind, (attribute,), **kw)


def dynamic(c: Component, name: str, kind: str, **kw: Any) -> Variable:
    """A read-only value the runtime supplies when asked (device_model: dynamic)."""
    return Variable(c, name, kind, (Attribute(mutability=READ_ONLY),), **kw)


def storage_key(variable: Variable, attribute: str = ACTUAL) -> str:
    """The settings-table key of one attribute: `Component[/evse[/connector]].Variable`,
    with `:instance` after an instanced name and `@Attribute` for other than Actual."""
    return variable.key + ("" if attribute == ACTUAL else f"@{attribute}")


# --- the model -----------------------------------------------------------------------------
