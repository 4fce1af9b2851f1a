"""OCPP 1.6 payloads built from the core's vocabulary (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hal.interfaces import MeterReading

from ..core.model import AuthInfo, AuthStatus, StopReason
from ..measurands import measurements

# The core's stop reasons that OCPP 1.6 has no name for.
STOP_REASONS: dict[StopReason, str] = {StopReason.Fault: "Other", StopReason.MasterPass: "Local"}


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def auth_info(id_tag_info: dict[str, Any]) -> AuthInfo:
    try:
        status = AuthStatus(id_tag_info.get("status"))
    except ValueError:
        status = AuthStatus.Invalid
    return AuthInfo(
        status, parse_timestamp(id_tag_info.get("expiryDate")), id_tag_info.get("parentIdTag")
    )


def stop_reason(reason: StopReason) -> str:
    return STOP_REASONS.get(reason, str(reason))


def sampled_values(
    reading: MeterReading, measurands: list[str], context: str, offered_a: float
) -> list[dict[str, Any]]:
    """SampledValue entries for the configured measurands, per phase where it applies."""
    entries: list[dict[str, Any]] = []

    for m in measurements(reading, measurands, offered_a):
        entry: dict[str, Any] = {
            "value": f"{m.value:.0f}" if m.unit in ("Wh", "W") else f"{m.value:.2f}",
            "context": context,
            "measurand": m.measurand,
            "location": m.location,
        }
        if m.unit:
            entry["unit"] = m.unit
        if m.phase:
            entry["phase"] = m.phase
        entries.append(entry)
    return entries


def meter_value(
    reading: MeterReading, measurands: list[str], context: str, at: float, offered_a: float = 0
) -> dict[str, Any] | None:
    values = sampled_values(reading, measurands, context, offered_a)
    return {"timestamp": timestamp(at), "sampledValue": values} if values else None
