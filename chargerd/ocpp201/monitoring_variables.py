"""The device model's MonitoringCtrlr and monitorable hardware variables (OCPP 2.0.1 N):
listed by variables.py at every 2.0.1 start, so apart from the monitors (monitoring.py,
imported with the first monitoring request)."""

from __future__ import annotations

from ..config import Config
from ..monitoring.levels import BASES, MAX_SEVERITY
from ..monitoring.readings import CONTROLLER, STORAGE, TEMPERATURE, UPTIME, cpu_temperature
from .components import Component, Variable, dynamic, read_only, read_write

MONITORING = Component("MonitoringCtrlr")
ITEMS_PER_MESSAGE = {"SetVariableMonitoring": 50, "ClearVariableMonitoring": 50}
BYTES_PER_MESSAGE = 65000
MEASURED = ("ACCurrent", "ACVoltage")  # EVSE.Power is in variables.py, read by the adapter


def _measured(component: Component, name: str, kind: str, unit: str) -> Variable:
    return dynamic(component, name, kind, unit=unit, monitorable=True)


def variables(config: Config) -> list[Variable]:
    """MonitoringCtrlr and the monitorable hardware values (variables.py lists them)."""
    out = [
        read_only(MONITORING, "Available", "boolean", True),
        read_write(MONITORING, "Enabled", "boolean", True),
        # events of this severity or more severe (lower) wait in the outbox while offline
        read_write(MONITORING, "OfflineQueuingSeverity", "integer", 2,
                   min_limit=0, max_limit=MAX_SEVERITY),  # fmt: skip
        dynamic(MONITORING, "ActiveMonitoringBase", "OptionList", values_list=BASES),
        dynamic(MONITORING, "ActiveMonitoringLevel", "integer", min_limit=0,
                max_limit=MAX_SEVERITY),  # fmt: skip
    ]
    for message, items in ITEMS_PER_MESSAGE.items():
        out += [read_only(MONITORING, "ItemsPerMessage", "integer", items, instance=message),
                read_only(MONITORING, "BytesPerMessage", "integer", BYTES_PER_MESSAGE,
                          instance=message)]  # fmt: skip
    for c in config.connectors:
        evse = Component("EVSE", evse=c.id)
        out += [_measured(evse, "ACCurrent", "decimal", "A"),
                _measured(evse, "ACVoltage", "decimal", "V")]  # fmt: skip
    controller = Component(CONTROLLER)
    out += [_measured(controller, UPTIME, "integer", "s"),
            _measured(controller, STORAGE, "integer", "B")]  # fmt: skip
    if cpu_temperature() is not None:
        out.append(_measured(controller, TEMPERATURE, "decimal", "Celsius"))
    return out


def reads(variable: Variable) -> bool:
    """A variable whose value the monitoring part gives (the adapter's `_dynamic` asks)."""
    comp = variable.component
    return (
        comp.name == CONTROLLER
        or (comp.name == "EVSE" and variable.name in MEASURED)
        or (comp.name == "MonitoringCtrlr" and variable.name.startswith("Active"))
    )
