"""The hardware values monitors can watch, named by their device-model keys.

Per EVSE, from the meter reading the daemon already took (no extra polling): the power,
the current and the voltage. For the station: the time since the daemon started, the free
space in the storage directory, and the CPU temperature where Linux reports one in
/sys/class/thermal. Connector temperatures are not here: no driver reports one yet.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hal.interfaces import MeterReading

if TYPE_CHECKING:  # the names here are read at every 2.0.1 start, the monitors are not
    from .monitors import Reading

THERMAL = Path("/sys/class/thermal")
# the station's own values live on the "Controller" component (the station's main board)
CONTROLLER = "Controller"
UPTIME, STORAGE, TEMPERATURE = "Uptime", "StorageAvailable", "Temperature"
EVSE_VALUES = ("Power", "ACCurrent", "ACVoltage")


def evse_key(evse: int, variable: str) -> str:
    return f"EVSE/{evse}.{variable}"


def controller_key(variable: str) -> str:
    return f"{CONTROLLER}.{variable}"


def evse_values(evse: int, reading: MeterReading) -> dict[str, Reading]:
    """Power in W; the current of the most loaded phase in A (the one that meets a limit
    first); the mean voltage of the phases in V (left out when the meter gives none)."""
    out: dict[str, Reading] = {evse_key(evse, "Power"): round(reading.power_w, 1)}
    if reading.current_a:
        out[evse_key(evse, "ACCurrent")] = round(max(reading.current_a), 2)
    if reading.voltage_v:
        out[evse_key(evse, "ACVoltage")] = round(sum(reading.voltage_v) / len(reading.voltage_v), 1)
    return out


def cpu_temperature(thermal: Path = THERMAL) -> float | None:
    """The first thermal zone's temperature in °C, or None when the board reports none."""
    for zone in sorted(thermal.glob("thermal_zone*")):
        try:
            return int((zone / "temp").read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
    return None


def station_values(
    storage_dir: Path, uptime_s: float, thermal: Path = THERMAL
) -> dict[str, Reading]:
    """Uptime in s, free storage in bytes, CPU temperature in °C when known."""
    out: dict[str, Reading] = {controller_key(UPTIME): int(uptime_s)}
    try:
        out[controller_key(STORAGE)] = shutil.disk_usage(storage_dir).free
    except OSError:
        pass  # a storage that cannot be asked has no value now; nothing trips on it
    temperature = cpu_temperature(thermal)
    if temperature is not None:
        out[controller_key(TEMPERATURE)] = temperature
    return out
