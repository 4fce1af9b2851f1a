"""`chargerctl ocpp get|set` on the OCPP 2.0.1 device model, through the same lookups,
checks and persistence as GetVariables / SetVariables from the CSMS.

A variable is named as in the settings table and the YAML `ocpp:` block:
`Component[:instance][/evse[/connector]].Variable[:instance][@Attribute]`, e.g.
`OCPPCommCtrlr.HeartbeatInterval`, `EVSE/1.Power@MaxSet`,
`OCPPCommCtrlr.MessageAttempts:TransactionEvent` (also `...MessageAttempts.TransactionEvent`).
"""

from __future__ import annotations

from typing import Any

from .components import ACTUAL, ATTRIBUTE_TYPES, MAX_SET_LENGTH, Status
from .device_model import DeviceModel
from .host import Host
from .values import to_wire

FORM = "Component[:instance][/evse[/connector]].Variable[:instance][@Attribute]"


def parse_name(key: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(ComponentType, VariableType, attribute type) as a CSMS would send them."""
    name, _, attribute = key.partition("@")
    attribute = attribute or ACTUAL
    if attribute not in ATTRIBUTE_TYPES:
        raise ValueError(f"{key}: attribute {attribute!r}; allowed: {', '.join(ATTRIBUTE_TYPES)}")
    parts = name.split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"{key}: an OCPP 2.0.1 variable is named {FORM}")
    comp_text, var_text = parts[0], parts[1]
    comp_text, *evse = comp_text.split("/")
    comp_name, _, comp_instance = comp_text.partition(":")
    var_name, _, var_instance = var_text.partition(":")
    if len(parts) == 3:
        var_instance = parts[2]
    component: dict[str, Any] = {"name": comp_name}
    if comp_instance:
        component["instance"] = comp_instance
    if evse:
        if len(evse) > 2 or not all(n.isdigit() for n in evse):
            raise ValueError(f"{key}: the EVSE is /N or /N/connector, numbers")
        component["evse"] = {"id": int(evse[0])}
        if len(evse) == 2:
            component["evse"]["connectorId"] = int(evse[1])
    variable: dict[str, Any] = {"name": var_name}
    if var_instance:
        variable["instance"] = var_instance
    return component, variable, attribute


def _parse(dm: DeviceModel, key: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """parse_name, with the variables of that name offered when the component is missing (a
    technician used to OCPP 1.6 types `HeartbeatInterval`)."""
    try:
        return parse_name(key)
    except ValueError as exc:
        named = sorted({v.key for v in dm.variables if v.name.casefold() == key.casefold()})
        if named:
            raise ValueError(f"{exc}; did you mean {' or '.join(named)}?") from None
        raise


def _problem(dm: DeviceModel, key: str, status: str, component: dict[str, Any]) -> ValueError:
    if status == Status.UnknownComponent:
        known = sorted({v.component.key for v in dm.variables})
        return ValueError(f"{key}: UnknownComponent; known: {', '.join(known)}")
    if status == Status.UnknownVariable:
        known = sorted(
            v.name + (f":{v.instance}" if v.instance else "")
            for v in dm.variables
            if v.component.name.casefold() == str(component["name"]).casefold()
        )
        return ValueError(f"{key}: UnknownVariable; known: {', '.join(dict.fromkeys(known))}")
    return ValueError(f"{key}: {status}")


def get(dm: DeviceModel, key: str) -> str:
    component, variable, attribute = _parse(dm, key)
    status, found = dm.lookup(component, variable)
    if found is None:
        raise _problem(dm, key, status, component)
    a = found.attribute(attribute)
    if a is not None and not a.readable:
        return f"{found.key} is write-only: its value is never shown"
    status, value = dm.get(component, variable, attribute)
    if status != Status.Accepted or value is None:
        raise ValueError(f"{key}: {status}")
    name = found.key + ("" if attribute == ACTUAL else f"@{attribute}")
    return f"{name} = {value}" + ("" if a is None or a.writable else "  (read-only)")


def set_value(host: Host, key: str, value: str) -> str:
    component, variable, attribute = _parse(host.dm, key)
    if len(value) > MAX_SET_LENGTH:  # the CSMS's schema checks this one
        raise ValueError(f"{key}: Rejected: longer than {MAX_SET_LENGTH} characters")
    status, changed, why = host.dm.set(component, variable, value, attribute)
    if status not in (Status.Accepted, Status.RebootRequired):
        if why is None:
            raise _problem(host.dm, key, status, component)
        raise ValueError(f"{key}: {status}: {why}")
    if changed is None:
        return f"{key}: {status}"
    host.variables_changed([changed], by="chargerctl")
    a = changed.attribute(attribute)
    shown = to_wire(host.dm.read(changed, attribute)) if a is not None and a.readable else "***"
    name = changed.key + ("" if attribute == ACTUAL else f"@{attribute}")
    return f"{name} = {shown}  ({status})"
