"""What each measurand means in terms of a meter reading — the same in every OCPP version;
only the wire format of a sampled value differs (see each version's payloads.py)."""

from __future__ import annotations

from typing import NamedTuple

from hal.interfaces import MeterReading


class Measurement(NamedTuple):
    measurand: str
    value: float
    unit: str | None  # None: the version has no unit for it (Frequency)
    phase: str | None  # None: not per phase


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
    return found
