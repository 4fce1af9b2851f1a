"""Device-model reports: what GetBaseReport (B07) and GetReport (B08) select, as reportData
entries, and the NotifyReport pages that carry them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .components import MAX_VALUE_LENGTH, Component, Variable
from .device_model import DeviceModel
from .values import to_wire

REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
# ComponentCriterionEnumType: each names a boolean variable of the component
CRITERIA = ("Active", "Available", "Enabled", "Problem")
# A component without the criterion's variable: Available means "the component exists" and
# Enabled "is always true for components that cannot be selectively enabled" (Part 2,
# appendix 4), so both hold; nothing here reports an Active state, so every component
# counts as active; without a Problem variable no problem is reported.
CRITERION_WITHOUT_VARIABLE = {"Active": True, "Available": True, "Enabled": True, "Problem": False}


def base_report(dm: DeviceModel, base: str) -> list[dict[str, Any]]:
    """reportData entries of a GetBaseReport (ValueError for an unknown base)."""
    if base == "FullInventory":
        chosen = dm.variables
    elif base == "ConfigurationInventory":
        chosen = [v for v in dm.variables if v.writable]
    elif base == "SummaryInventory":
        chosen = [v for v in dm.variables if v.summary]
    else:
        raise ValueError(f"unknown report base {base!r}")
    return [report_data(dm, v) for v in chosen]


def custom_report(
    dm: DeviceModel,
    component_variables: Iterable[Mapping[str, Any]] | None,
    criteria: Iterable[str] | None,
) -> list[dict[str, Any]]:
    """reportData entries of a GetReport: the variables named by `component_variables` (all
    when None) of the components meeting any of `criteria` (all when None).

    In a componentVariable an omitted component instance, evse, connectorId, variable or
    variable instance selects every one there is."""
    wanted = list(component_variables) if component_variables else None
    chosen_criteria = list(criteria) if criteria else None
    chosen = []
    for v in dm.variables:
        if wanted is not None and not any(_selects(w, v) for w in wanted):
            continue
        if chosen_criteria is not None and not any(
            _meets(dm, v.component, c) for c in chosen_criteria
        ):
            continue
        chosen.append(v)
    return [report_data(dm, v) for v in chosen]


def _fold(text: Any) -> str | None:
    return str(text).casefold() if text is not None else None


def _selects(wanted: Mapping[str, Any], v: Variable) -> bool:
    component, variable = wanted["component"], wanted.get("variable")
    c = v.component
    if _fold(component["name"]) != _fold(c.name):
        return False
    if "instance" in component and _fold(component["instance"]) != _fold(c.instance):
        return False
    evse = component.get("evse")
    if evse is not None:
        if evse["id"] != c.evse:
            return False
        if "connectorId" in evse and evse["connectorId"] != c.connector:
            return False
    if variable is None:
        return True
    if _fold(variable["name"]) != _fold(v.name):
        return False
    return "instance" not in variable or _fold(variable["instance"]) == _fold(v.instance)


def _meets(dm: DeviceModel, component: Component, criterion: str) -> bool:
    """The component's variable named `criterion` (B08.FR.07-10) is true."""
    flag = next((v for v in dm.variables if v.component == component and v.name == criterion), None)
    if flag is None or flag.data_type != "boolean":
        return CRITERION_WITHOUT_VARIABLE[criterion]
    try:
        return dm.read(flag) is True
    except KeyError:  # no value now (e.g. before the runtime is there): not known to hold
        return False


def report_data(dm: DeviceModel, v: Variable) -> dict[str, Any]:
    """One reportData entry; WriteOnly values are left out (B07.FR.03, B08.FR.03)."""
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
                entry["value"] = to_wire(dm.read(v, a.type))[:MAX_VALUE_LENGTH]
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
