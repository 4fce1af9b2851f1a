"""How `chargerd demo` tells what happens: the driver's steps ('>>>' lines) and every OCPP
message in one line, timed from the start. The one-line summaries are per OCPP version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

ENERGY = "Energy.Active.Import.Register"


class Narrator:
    """Prints what the driver does ('>>>' lines) and each message, timed from the start."""

    def __init__(self, summarise: Callable[[str, dict], str]):
        self.t0 = time.monotonic()
        self.summarise = summarise  # one line per message of the version

    def say(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.t0:5.1f} s] >>> {text}", flush=True)

    def message(self, station: str, direction: str, action: str, payload: dict[str, Any]) -> None:
        arrow = "station → CSMS" if direction == "in" else "CSMS → station"
        summary = self.summarise(action, payload) if direction == "in" else answer(payload)
        print(f"[{time.monotonic() - self.t0:5.1f} s]     {arrow}  {action:<28} {summary}",
              flush=True)  # fmt: skip


def sampled_values(meter_values: list[dict]) -> dict[str, Any]:
    """Measurand → value of the phase-less sampled values (energy when none is named)."""
    return {
        v.get("measurand", ENERGY): v["value"]
        for mv in meter_values
        for v in mv.get("sampledValue", [])
        if not v.get("phase")
    }


def profile_line(p: dict[str, Any]) -> str | None:
    """A SetChargingProfile request in one line (either version), None for anything else."""
    profile = p.get("csChargingProfiles") or p.get("chargingProfile")
    if profile is None:
        return None
    schedule = profile["chargingSchedule"]
    schedule = schedule[0] if isinstance(schedule, list) else schedule
    limits = ", ".join(f"{q['limit']:g} {schedule['chargingRateUnit']}"
                       for q in schedule["chargingSchedulePeriod"])  # fmt: skip
    return f"{profile['chargingProfilePurpose']} {limits}"


def answer(p: dict[str, Any]) -> str:
    """An answer of the CSMS, or a CALL it sends, in one line (either version)."""
    if (profile := profile_line(p)) is not None:
        return profile
    if "transactionId" in p:
        return f"transaction id {p['transactionId']}"
    info = p.get("idTagInfo") or p.get("idTokenInfo")  # 1.6 / 2.0.1
    if info is not None:
        return f"card {info.get('status')}"
    if "status" in p:
        return str(p["status"]) + (f", heartbeat {p['interval']} s" if "interval" in p else "")
    return "ok"


def summarise16(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification":
        error = "" if p.get("errorCode") in (None, "NoError") else f"  error {p['errorCode']}"
        return f"connector {p.get('connectorId')}: {p.get('status')}{error}"
    if action == "MeterValues":
        values = sampled_values(p.get("meterValue", []))
        power = values.get("Power.Active.Import")
        power_text = f", {float(power) / 1000:.1f} kW" if power else ""
        return f"connector {p.get('connectorId')}: meter {values.get(ENERGY, '?')} Wh{power_text}"
    if action == "StartTransaction":
        return f"connector {p['connectorId']}, card {p['idTag']}, meter {p['meterStart']} Wh"
    if action == "StopTransaction":
        return (
            f"transaction {p['transactionId']}, meter {p['meterStop']} Wh, reason {p.get('reason')}"
        )
    if action == "BootNotification":
        return f"{p.get('chargePointVendor')} {p.get('chargePointModel')}"
    if action == "Authorize":
        return f"card {p.get('idTag')}"
    if action == "SetChargingProfile":
        return str(p.get("status"))
    return ""


def summarise201(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification":
        return f"EVSE {p.get('evseId')}: {p.get('connectorStatus')}"
    if action == "TransactionEvent":
        info = p["transactionInfo"]
        text = f"{p['eventType']} #{p['seqNo']} ({p['triggerReason']})"
        if "chargingState" in info:
            text += f" {info['chargingState']}"
        if "stoppedReason" in info:
            text += f", reason {info['stoppedReason']}"
        values = sampled_values(p.get("meterValue", [])[-1:])
        if ENERGY in values:
            text += f", meter {values[ENERGY]} Wh"
        if "Power.Active.Import" in values:
            text += f", {float(values['Power.Active.Import']) / 1000:.1f} kW"
        return text
    if action == "MeterValues":
        energy = sampled_values(p.get("meterValue", [])).get(ENERGY)
        return f"EVSE {p.get('evseId')}: meter {energy} Wh"
    if action == "BootNotification":
        station = p.get("chargingStation", {})
        return f"{station.get('vendorName')} {station.get('model')} ({p.get('reason')})"
    if action == "Authorize":
        return f"card {p.get('idToken', {}).get('idToken')}"
    if action == "NotifyEvent":
        data = p.get("eventData", [{}])[0]
        return f"{data.get('component', {}).get('name')} {data.get('variable', {}).get('name')}"
    if action == "SetChargingProfile":
        return str(p.get("status"))
    return ""
