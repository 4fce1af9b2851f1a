"""The OCPP 2.0.1 device model: components, variables, attributes, and what the CSMS may do.

A `Variable` is one variable of one component (an EVSE-bound component is one component
per EVSE). It has attributes (Actual, and Target/MinSet/MaxSet where the station knows
them), each with a mutability, and characteristics (data type, unit, limits, the list of
allowed values). `DeviceModel` holds the values:

- writable values (ReadWrite / WriteOnly) live in the store's settings table under
  `storage_key()` — `OCPPCommCtrlr.HeartbeatInterval`, `EVSE/1.Power@MaxSet`,
  `OCPPCommCtrlr.MessageAttempts:TransactionEvent` — and survive restarts;
- the YAML `ocpp:` block seeds them like the 1.6 keys: a stored value wins, unless the
  YAML value changed since it was last seeded;
- read-only values are constants from the configuration, or dynamic (asked of the
  runtime through the `dynamic` callback: availability, power, clock).

`get`/`set` answer with the GetVariables/SetVariables statuses; `report` builds the
reportData of GetBaseReport, and `report_pages` cuts it into NotifyReport messages.
Nothing here sends messages or knows the core.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..store import Store

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
REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
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
        out: dict[str, Any] = {"dataType": self.data_type, "supportsMonitoring": False}
        if self.unit:
            out["unit"] = self.unit
        if self.min_limit is not None:
            out["minLimit"] = self.min_limit
        if self.max_limit is not None:
            out["maxLimit"] = self.max_limit
        if self.values_list:
            out["valuesList"] = ",".join(self.values_list)[:1000]
        return out


def storage_key(variable: Variable, attribute: str = ACTUAL) -> str:
    """The settings-table key of one attribute: `Component[/evse[/connector]].Variable`,
    with `:instance` after an instanced name and `@Attribute` for other than Actual."""
    return variable.key + ("" if attribute == ACTUAL else f"@{attribute}")


# --- values: parsing and wire form -----------------------------------------------------------


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


# --- the model -----------------------------------------------------------------------------


def _fold(text: str | None) -> str | None:
    return text.casefold() if text is not None else None


def _component_key(component: Component) -> tuple[Any, ...]:
    return (
        component.name.casefold(),
        _fold(component.instance),
        component.evse,
        component.connector,
    )


Dynamic = Callable[[Variable, str], Value | None]


class DeviceModel:
    def __init__(
        self,
        variables: Iterable[Variable],
        store: Store,
        initial: Mapping[str, Any] | None = None,
        dynamic: Dynamic | None = None,
    ):
        self.variables = list(variables)
        self.store = store
        self.dynamic: Dynamic = dynamic or (lambda variable, attribute: None)
        self.warnings: list[str] = []  # YAML values that could not be used, one line each
        self._components: dict[tuple[Any, ...], dict[tuple[Any, ...], Variable]] = {}
        for v in self.variables:
            by_var = self._components.setdefault(_component_key(v.component), {})
            by_var[(v.name.casefold(), _fold(v.instance))] = v
        self._values: dict[str, Value] = {}
        self._load(initial or {})

    # --- start-up -----------------------------------------------------------------------

    def _load(self, initial: Mapping[str, Any]) -> None:
        """Stored values win; a YAML value wins only when it differs from what it seeded."""
        stored = self.store.settings()
        seeds = self._seeds(initial)
        for v in self.variables:
            for a in v.attributes:
                if a.dynamic:
                    continue
                key = storage_key(v, a.type)
                value: Value | None = a.default
                if a.writable and key in stored:
                    try:
                        value = parse(v, stored[key][0])
                    except ValueError as exc:
                        self.warnings.append(f"stored {key}={stored[key][0]!r} ignored: {exc}")
                if a.writable and a.type == ACTUAL and v in seeds:
                    from_yaml = seeds[v]
                    if key not in stored or stored[key][1] != from_yaml:
                        self.store.put_setting(key, from_yaml, seeded=from_yaml)
                        value = from_yaml
                if value is not None:
                    self._values[key] = value

    def _seeds(self, initial: Mapping[str, Any]) -> dict[Variable, Value]:
        seeds: dict[Variable, Value] = {}
        for component, variables in initial.items():
            if not isinstance(variables, Mapping):
                self.warnings.append(f"ocpp.{component}: not a mapping of variables; ignored")
                continue
            for name, raw in variables.items():
                where = f"ocpp.{component}.{name}"
                found, error = resolve_initial(self.variables, str(component), str(name))
                if error:
                    self.warnings.append(f"{where}: {error}; ignored")
                    continue
                for v in found:
                    try:
                        seeds[v] = parse(v, raw)
                    except ValueError as exc:
                        self.warnings.append(f"{where}: {raw!r} {exc}; ignored")
                        break
        return seeds

    # --- the adapter's view ----------------------------------------------------------------

    def find(
        self,
        component: str,
        name: str,
        *,
        instance: str | None = None,
        evse: int | None = None,
        connector: int | None = None,
        component_instance: str | None = None,
    ) -> Variable:
        key = _component_key(Component(component, component_instance, evse, connector))
        return self._components[key][(name.casefold(), _fold(instance))]

    def value(self, component: str, name: str, attribute: str = ACTUAL, **where: Any) -> Value:
        """A variable's typed value (KeyError for a variable the model does not have)."""
        v = self.find(component, name, **where)
        return self.read(v, attribute)

    def read(self, variable: Variable, attribute: str = ACTUAL) -> Value:
        a = variable.attribute(attribute)
        if a is None:
            raise KeyError(f"{variable.key} has no {attribute} attribute")
        if a.dynamic:
            value = self.dynamic(variable, attribute)
            if value is None:
                raise KeyError(f"{variable.key} has no value now")
            return value
        return self._values[storage_key(variable, attribute)]

    def put(self, variable: Variable, value: Value, attribute: str = ACTUAL) -> None:
        """Store a (valid) value, whatever the mutability: for the station's own changes."""
        key = storage_key(variable, attribute)
        self._values[key] = value
        self.store.put_setting(key, value)

    # --- GetVariables / SetVariables ---------------------------------------------------------

    def lookup(
        self, component: Mapping[str, Any], variable: Mapping[str, Any]
    ) -> tuple[str, Variable | None]:
        evse = component.get("evse") or {}
        key = (
            str(component.get("name", "")).casefold(),
            _fold(component.get("instance")),
            evse.get("id"),
            evse.get("connectorId"),
        )
        variables = self._components.get(key)
        if variables is None:
            return Status.UnknownComponent, None
        found = variables.get(
            (str(variable.get("name", "")).casefold(), _fold(variable.get("instance")))
        )
        if found is None:
            return Status.UnknownVariable, None
        return Status.Accepted, found

    def get(
        self, component: Mapping[str, Any], variable: Mapping[str, Any], attribute: str = ACTUAL
    ) -> tuple[str, str | None]:
        """(GetVariableStatus, attributeValue or None)."""
        status, v = self.lookup(component, variable)
        if v is None:
            return status, None
        a = v.attribute(attribute)
        if a is None:
            return Status.NotSupportedAttributeType, None
        if not a.readable:
            return Status.Rejected, None
        try:
            return Status.Accepted, to_wire(self.read(v, attribute))[:MAX_VALUE_LENGTH]
        except KeyError:
            return Status.Rejected, None

    def set(
        self,
        component: Mapping[str, Any],
        variable: Mapping[str, Any],
        value: str,
        attribute: str = ACTUAL,
    ) -> tuple[str, Variable | None, str | None]:
        """(SetVariableStatus, the variable when it changed, why not when Rejected)."""
        status, v = self.lookup(component, variable)
        if v is None:
            return status, None, None
        a = v.attribute(attribute)
        if a is None:
            return Status.NotSupportedAttributeType, None, None
        if not a.writable:
            return Status.Rejected, None, "read-only"
        try:
            parsed = parse(v, value)
        except ValueError as exc:
            return Status.Rejected, None, str(exc)
        self.put(v, parsed, attribute)
        return (Status.RebootRequired if v.reboot else Status.Accepted), v, None

    # --- reports -------------------------------------------------------------------------

    def report(self, base: str) -> list[dict[str, Any]]:
        """reportData entries of a GetBaseReport (ValueError for an unknown base)."""
        if base == "FullInventory":
            chosen = self.variables
        elif base == "ConfigurationInventory":
            chosen = [v for v in self.variables if v.writable]
        elif base == "SummaryInventory":
            chosen = [v for v in self.variables if v.summary]
        else:
            raise ValueError(f"unknown report base {base!r}")
        return [self.report_data(v) for v in chosen]

    def report_data(self, v: Variable) -> dict[str, Any]:
        attributes = []
        for a in v.attributes:
            entry: dict[str, Any] = {
                "type": a.type,
                "mutability": a.mutability,
                "persistent": a.writable or not a.dynamic,
                "constant": a.constant,
            }
            if a.readable:
                try:
                    entry["value"] = to_wire(self.read(v, a.type))[:MAX_VALUE_LENGTH]
                except KeyError:
                    pass
            attributes.append(entry)
        return {
            "component": v.component.wire(),
            "variable": v.wire(),
            "variableAttribute": attributes,
            "variableCharacteristics": v.characteristics(),
        }


def report_pages(
    entries: list[dict[str, Any]],
    request_id: int,
    generated_at: str,
    items_per_message: int,
    bytes_per_message: int | None = None,
) -> list[dict[str, Any]]:
    """NotifyReport payloads: seqNo 0, 1, ...; tbc true on all but the last. A page holds
    at most `items_per_message` entries and, when given, stays under `bytes_per_message`
    (as serialised JSON, the frame around it included roughly) unless one entry alone is
    bigger."""
    per_page = max(1, items_per_message)
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    overhead = 200  # the CALL frame, requestId, generatedAt, seqNo, tbc
    for entry in entries:
        entry_size = len(json.dumps(entry, separators=(",", ":"))) + 1
        page = pages[-1]
        too_big = bytes_per_message is not None and overhead + size + entry_size > bytes_per_message
        if page and (len(page) >= per_page or too_big):
            pages.append([])
            size = 0
        pages[-1].append(entry)
        size += entry_size
    out = []
    for n, page in enumerate(pages):
        payload: dict[str, Any] = {
            "requestId": request_id,
            "generatedAt": generated_at,
            "seqNo": n,
            "tbc": n < len(pages) - 1,
        }
        if page:
            payload["reportData"] = page
        out.append(payload)
    return out


def resolve_initial(
    variables: Iterable[Variable], component: str, name: str
) -> tuple[list[Variable], str | None]:
    """The writable variables a YAML entry `ocpp.{component}.{name}` seeds, or why none.

    `component` is a component name, optionally `Name:instance` and/or `/evse` (`EVSE/2`);
    without an EVSE number it seeds the variable of every EVSE. `name` is a variable name,
    optionally `Name:instance`; without an instance it means the only instance there is."""
    comp_name, _, comp_evse = component.partition("/")
    comp_name, _, comp_instance = comp_name.partition(":")
    var_name, _, var_instance = name.partition(":")
    candidates = [
        v
        for v in variables
        if v.component.name.casefold() == comp_name.casefold()
        and (not comp_instance or _fold(v.component.instance) == comp_instance.casefold())
        and (not comp_evse or str(v.component.evse) == comp_evse)
    ]
    if not candidates:
        known = sorted({v.component.name for v in variables})
        return [], f"unknown component {comp_name!r}; known: {', '.join(known)}"
    found = [
        v
        for v in candidates
        if v.name.casefold() == var_name.casefold()
        and (not var_instance or _fold(v.instance) == var_instance.casefold())
    ]
    if not found:
        known = sorted({v.name for v in candidates})
        return [], f"unknown variable of {comp_name}; known: {', '.join(known)}"
    instances = {v.instance for v in found}
    if len(instances) > 1:
        listed = ", ".join(f"{var_name}:{i}" for i in sorted(i or "" for i in instances))
        return [], f"has several instances; name one: {listed}"
    writable = [v for v in found if (a := v.attribute(ACTUAL)) is not None and a.writable]
    if not writable:
        return [], "is read-only (set by the station itself)"
    return writable, None
