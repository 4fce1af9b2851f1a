"""What each measurand means in terms of a meter reading — the same in every OCPP version;
only the wire format of a sampled value differs (see each version's payloads.py)."""

from __future__ import annotations

from typing import NamedTuple

from hal.interfaces import MeterReading

# Measurands this station can sample: what a HAL meter reading carries, and the offer the
# station itself makes. A value the hardware at hand does not report (Frequency from a meter
# without it, SoC without an EV that tells it) is left out of the meter value. Others
# (Power.Factor, Temperature, Energy.*.Interval, ...) no device here gives: they are refused.
MEASURANDS: tuple[str, ...] = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Power.Offered",  # the offered current × the measured voltage of each phase
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Frequency",
    "SoC",  # the EV's state of charge, where it reports one (MeterReading.soc_pct)
)


class Measurement(NamedTuple):
    measurand: str
    value: float
    unit: str | None  # None: the version has no unit for it (Frequency)
    phase: str | None  # None: not per phase
    location: str = "Outlet"


def _phases(values: tuple[float, ...], suffix: str = "") -> list[tuple[str | None, float]]:
    if len(values) <= 1:
        return [(None, values[0] if values else 0.0)]
    return [(f"L{i}{suffix}", v) for i, v in enumerate(values, start=1)]


def measurements(
    reading: MeterReading, measurands: list[str], offered_a: float = 0
) -> list[Measurement]:
    """The values the configured measurands ask for, per phase where it applies."""
    found: list[Measurement] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            found.append(Measurement(measurand, reading.energy_wh, "Wh", None))
        elif measurand == "Power.Active.Import":
            found.append(Measurement(measurand, reading.power_w, "W", None))
        elif measurand == "Power.Offered" and reading.voltage_v:
            found.append(Measurement(measurand, offered_a * sum(reading.voltage_v), "W", None))
        elif measurand == "Current.Import":
            found += [Measurement(measurand, v, "A", p) for p, v in _phases(reading.current_a)]
        elif measurand == "Current.Offered":
            found.append(Measurement(measurand, offered_a, "A", None))
        elif measurand == "Voltage":
            found += [
                Measurement(measurand, v, "V", p) for p, v in _phases(reading.voltage_v, "-N")
            ]
        elif measurand == "Frequency" and reading.frequency_hz is not None:
            found.append(Measurement(measurand, reading.frequency_hz, None, None))
        elif measurand == "SoC" and reading.soc_pct is not None:
            found.append(Measurement(measurand, reading.soc_pct, "Percent", None, "EV"))
    return found
