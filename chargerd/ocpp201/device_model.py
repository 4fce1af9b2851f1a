"""The OCPP 2.0.1 device model: the values of the station's variables, and what the CSMS
may do with them.

`DeviceModel` holds the values of the variables of `variables.catalogue`:

- writable values (ReadWrite / WriteOnly) live in the store's settings table under
  `storage_key()` — `OCPPCommCtrlr.HeartbeatInterval`, `EVSE/1.Power@MaxSet`,
  `OCPPCommCtrlr.MessageAttempts:TransactionEvent` — and survive restarts;
- the YAML `ocpp:` block seeds them like the 1.6 keys: a stored value wins, unless the
  YAML value changed since it was last seeded;
- read-only values are constants from the configuration, or dynamic (asked of the
  runtime through the `dynamic` callback: availability, power, clock).

`get`/`set` answer with the GetVariables/SetVariables statuses; reports.py builds the
NotifyReport data from it. Nothing here sends messages or knows the core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..store import Store
from .components import (
    ACTUAL,
    MAX_VALUE_LENGTH,
    Component,
    Status,
    Value,
    Variable,
    storage_key,
)
from .values import parse, to_wire


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
