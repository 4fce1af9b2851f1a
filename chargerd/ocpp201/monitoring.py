"""OCPP 2.0.1 monitoring (N02-N08) on the monitoring part (chargerd/monitoring/part.py).

- SetVariableMonitoring (ids are the station's: a new monitor gets the next free one),
  ClearVariableMonitoring, SetMonitoringBase, SetMonitoringLevel;
- GetMonitoringReport, answered with NotifyMonitoringReport pages;
- the MonitoringCtrlr variables, and the hardware values monitors can watch (EVSE Power,
  ACCurrent, ACVoltage; Controller Uptime, StorageAvailable, Temperature) as read-only,
  monitorable device-model variables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..monitoring.monitors import (
    CUSTOM,
    DELTA,
    HARDWIRED,
    MAX_SEVERITY,
    MONITOR_TYPES,
    PERIODICS,
    THRESHOLDS,
    Monitor,
)
from ..rpc import Refused
from .components import Value, Variable
from .host import after_answer, info
from .payloads import timestamp

if TYPE_CHECKING:
    from ..monitoring.part import MonitoringPart
    from .adapter import Ocpp201Adapter

MONITORS_PER_PAGE = 10  # monitor entries per NotifyMonitoringReport
CRITERIA = {
    "ThresholdMonitoring": THRESHOLDS,
    "DeltaMonitoring": (DELTA,),
    "PeriodicMonitoring": PERIODICS,
}


def dynamic(adapter: Ocpp201Adapter, variable: Variable) -> Value | None:
    part = _part(adapter)
    if part is None:
        return None
    if variable.name == "ActiveMonitoringBase":
        return part.monitors.base
    if variable.name == "ActiveMonitoringLevel":
        return part.monitors.level
    return part.values().get(variable.key)


def _part(adapter: Ocpp201Adapter) -> MonitoringPart | None:
    runtime = getattr(adapter, "rt", None)
    return runtime.parts.get("monitoring") if runtime is not None else None  # type: ignore[return-value]


Handler = Callable[[dict], Awaitable[dict]]


def handlers(adapter: Ocpp201Adapter) -> dict[str, Handler]:
    def enabled() -> bool:
        return bool(adapter.dm.value("MonitoringCtrlr", "Enabled"))

    async def set_monitoring_base(p: dict[str, Any]) -> dict[str, Any]:
        part = _part(adapter)
        if part is None or not enabled():
            return {"status": "Rejected"}
        part.set_base(p["monitoringBase"])
        return {"status": "Accepted"}

    async def set_monitoring_level(p: dict[str, Any]) -> dict[str, Any]:
        part = _part(adapter)
        severity = int(p["severity"])
        if part is None or not 0 <= severity <= MAX_SEVERITY:
            return {"status": "Rejected"}
        part.set_level(severity)
        return {"status": "Accepted"}

    async def set_variable_monitoring(p: dict[str, Any]) -> dict[str, Any]:
        _within_message_limits(adapter, "SetVariableMonitoring", p, p["setMonitoringData"])
        part = _part(adapter)
        results = [_set_one(adapter, part, enabled(), item) for item in p["setMonitoringData"]]
        return {"setMonitoringResult": results}

    async def clear_variable_monitoring(p: dict[str, Any]) -> dict[str, Any]:
        _within_message_limits(adapter, "ClearVariableMonitoring", p, p["id"])
        part = _part(adapter)
        results = []
        for monitor_id in p["id"]:
            found = part.monitors.get(monitor_id) if part is not None else None
            if found is None:
                status = "NotFound"
            else:  # hard-wired monitors stay (N06.FR.04)
                status = "Accepted" if part.remove(monitor_id) else "Rejected"  # type: ignore[union-attr]
            results.append({"id": monitor_id, "status": status})
        return {"clearMonitoringResult": results}

    async def get_monitoring_report(p: dict[str, Any]) -> dict[str, Any]:
        part = _part(adapter)
        if part is None:
            return {"status": "Rejected"}
        criteria = p.get("monitoringCriteria") or list(CRITERIA)
        types = {t for c in criteria for t in CRITERIA.get(c, ())}
        if not types:
            return {"status": "NotSupported"}
        wanted = p.get("componentVariable") or []
        found = [
            m
            for m in part.monitors.all()
            if m.type in types and (not wanted or any(_matches(m, cv) for cv in wanted))
        ]
        if not found:
            return {"status": "EmptyResultSet"}
        pages = report_pages(p["requestId"], found, time.time())

        async def send_all() -> None:
            for page in pages:
                await adapter.send("NotifyMonitoringReport", page)

        after_answer(adapter, send_all())
        return {"status": "Accepted"}

    return {
        "SetMonitoringBase": set_monitoring_base,
        "SetMonitoringLevel": set_monitoring_level,
        "SetVariableMonitoring": set_variable_monitoring,
        "ClearVariableMonitoring": clear_variable_monitoring,
        "GetMonitoringReport": get_monitoring_report,
    }


def _within_message_limits(
    adapter: Ocpp201Adapter, action: str, payload: dict[str, Any], items: list[Any]
) -> None:
    """More items than ItemsPerMessage[action]: CALLERROR OccurrenceConstraintViolation; a
    payload longer than BytesPerMessage[action]: FormatViolation (N04.FR.09, N06.FR.06/07)."""
    items_limit = int(adapter.dm.value("MonitoringCtrlr", "ItemsPerMessage", instance=action))
    if len(items) > items_limit:
        raise Refused("occurrence", f"{len(items)} items; ItemsPerMessage is {items_limit}")
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    bytes_limit = int(adapter.dm.value("MonitoringCtrlr", "BytesPerMessage", instance=action))
    if size > bytes_limit:
        raise Refused("format", f"{size} bytes; BytesPerMessage is {bytes_limit}")


def _set_one(
    adapter: Ocpp201Adapter, part: MonitoringPart | None, enabled: bool, item: dict[str, Any]
) -> dict[str, Any]:
    """SetMonitoringResultType for one SetMonitoringDataType (N04)."""
    result: dict[str, Any] = {
        "type": item["type"],
        "severity": item["severity"],
        "component": item["component"],
        "variable": item["variable"],
    }

    def answer(status: str, why: str | None = None) -> dict[str, Any]:
        result["status"] = status
        if why:
            result["statusInfo"] = info(status, why)
        return result

    if part is None or not enabled:
        return answer("Rejected", "MonitoringCtrlr.Enabled is false")
    found, variable = adapter.dm.lookup(item["component"], item["variable"])
    if variable is None:
        return answer(found)
    if not variable.monitorable or item["type"] not in MONITOR_TYPES:
        return answer("UnsupportedMonitorType", f"{variable.key} cannot be monitored so")
    value, severity = float(item["value"]), int(item["severity"])
    if not 0 <= severity <= MAX_SEVERITY or (item["type"] in PERIODICS and value < 1):
        return answer("Rejected", "severity 0-9; a period of at least 1 s")
    if item["type"] == DELTA and value < 0:
        return answer("Rejected", "a negative delta")  # N04.FR.14
    if item["type"] in THRESHOLDS and not _within(variable, value):
        return answer("Rejected", f"a threshold outside the range of {variable.key}")  # .FR.06
    old = part.monitors.get(item["id"]) if "id" in item else None
    if "id" in item and (old is None or old.key != variable.key):
        return answer("Rejected", f"no monitor {item['id']} of {variable.key} to replace")
    if old is not None and old.origin == HARDWIRED:
        return answer("Rejected", f"monitor {old.id} is hard-wired")  # N04.FR.18
    monitor = Monitor(
        id=old.id if old is not None else 0,
        key=variable.key,
        component=variable.component.wire(),
        variable=variable.wire(),
        type=item["type"],
        value=value,
        severity=severity,
        transaction=bool(item.get("transaction", False)),
        origin=CUSTOM,  # a changed preconfigured monitor is a custom one (N04.FR.15)
    )
    if part.monitors.duplicate(monitor) is not None:
        return answer("Duplicate")
    if old is None:
        monitor = Monitor(**{**monitor.to_json(), "id": part.new_id()})
    part.put(monitor)
    result["id"] = monitor.id
    return answer("Accepted")


def _within(variable: Variable, value: float) -> bool:
    """A threshold the variable's value can reach (its minLimit and maxLimit)."""
    low, high = variable.min_limit, variable.max_limit
    return (low is None or value >= low) and (high is None or value <= high)


def _matches(m: Monitor, wanted: dict[str, Any]) -> bool:
    """A monitor of the ComponentVariableType `wanted` (names ignore case; what it leaves
    out matches anything)."""
    comp, want = m.component, wanted["component"]
    if comp["name"].casefold() != want["name"].casefold():
        return False
    if "instance" in want and comp.get("instance") != want["instance"]:
        return False
    evse, want_evse = comp.get("evse") or {}, want.get("evse")
    if want_evse is not None:
        if evse.get("id") != want_evse["id"]:
            return False
        if "connectorId" in want_evse and evse.get("connectorId") != want_evse["connectorId"]:
            return False
    var = wanted.get("variable")
    if var is None:
        return True
    if m.variable["name"].casefold() != var["name"].casefold():
        return False
    return "instance" not in var or m.variable.get("instance") == var["instance"]


def report_pages(request_id: int, monitors: list[Monitor], now: float) -> list[dict[str, Any]]:
    """NotifyMonitoringReport payloads: MONITORS_PER_PAGE monitors a page, grouped by
    component and variable within a page; tbc on all but the last."""
    chunks = [
        monitors[i : i + MONITORS_PER_PAGE] for i in range(0, len(monitors), MONITORS_PER_PAGE)
    ]
    pages = []
    for seq, chunk in enumerate(chunks):
        grouped: dict[str, dict[str, Any]] = {}
        for m in chunk:
            entry = grouped.setdefault(
                m.key, {"component": m.component, "variable": m.variable, "variableMonitoring": []}
            )
            entry["variableMonitoring"].append(m.wire())
        pages.append({
            "requestId": request_id,
            "seqNo": seq,
            "generatedAt": timestamp(now),
            "tbc": seq < len(chunks) - 1,
            "monitor": list(grouped.values()),
        })  # fmt: skip
    return pages
