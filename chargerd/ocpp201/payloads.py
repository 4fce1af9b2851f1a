"""OCPP 2.0.1 payload parts built from the core's vocabulary (pure functions)."""

from __future__ import annotations

from typing import Any

from hal.interfaces import MeterReading

from ..core.connector import Connector, Status
from ..core.model import AuthInfo, AuthStatus, StopReason
from ..measurands import measurements
from ..ocpp16.payloads import parse_timestamp, timestamp

__all__ = ["parse_timestamp", "timestamp"]

DEFAULT_TOKEN_TYPE = "ISO14443"  # an RFID card at the reader

# core connector status -> ConnectorStatusEnumType; the session phases are all "Occupied"
CONNECTOR_STATUS: dict[Status, str] = {
    Status.Available: "Available",
    Status.Preparing: "Occupied",
    Status.Charging: "Occupied",
    Status.SuspendedEV: "Occupied",
    Status.SuspendedEVSE: "Occupied",
    Status.Finishing: "Occupied",
    Status.Reserved: "Reserved",
    Status.Unavailable: "Unavailable",
    Status.Faulted: "Faulted",
}

# core stop reason -> (ReasonEnumType, TriggerReasonEnumType of the Ended event)
STOP: dict[StopReason, tuple[str, str]] = {
    StopReason.Local: ("Local", "StopAuthorized"),
    StopReason.Remote: ("Remote", "RemoteStop"),
    StopReason.EVDisconnected: ("EVDisconnected", "EVCommunicationLost"),
    StopReason.PowerLoss: ("PowerLoss", "AbnormalCondition"),
    StopReason.Reboot: ("Reboot", "AbnormalCondition"),
    StopReason.SoftReset: ("ImmediateReset", "ResetCommand"),
    StopReason.HardReset: ("ImmediateReset", "ResetCommand"),
    StopReason.UnlockCommand: ("Other", "UnlockCommand"),  # 2.0.1 has no such reason
    StopReason.DeAuthorized: ("DeAuthorized", "Deauthorized"),
    StopReason.EmergencyStop: ("EmergencyStop", "AbnormalCondition"),
    StopReason.Other: ("Other", "AbnormalCondition"),
    StopReason.Fault: ("Other", "AbnormalCondition"),
    # stop points of TxCtrlr.TxStopPoint (core/tx_points.py)
    StopReason.EVDeparted: ("EVDisconnected", "EVDeparted"),  # the bay sensor: it drove off
    StopReason.StoppedByEV: ("StoppedByEV", "ChargingStateChanged"),
    StopReason.Timeout: ("Timeout", "EVConnectTimeout"),
    StopReason.MasterPass: ("MasterPass", "StopAuthorized"),  # C16
}
# hardware fault code -> ReasonEnumType, for transactions a fault ended
FAULT_REASONS = {
    "GroundFailure": "GroundFault",
    "OverCurrentFailure": "OvercurrentFault",
    "OverVoltage": "PowerQuality",
    "UnderVoltage": "PowerQuality",
    "EVCommunicationError": "EVDisconnected",
}
AUTH_STATUSES = {s.value for s in AuthStatus}


def connector_status(status: Status) -> str:
    return CONNECTOR_STATUS[status]


def stopped_reason(reason: StopReason, fault: str | None = None) -> str:
    if reason is StopReason.Fault and fault:
        return FAULT_REASONS.get(fault, "Other")
    return STOP[reason][0]


def ended_trigger(reason: StopReason) -> str:
    return STOP[reason][1]


def id_token(token: str, token_type: str = DEFAULT_TOKEN_TYPE) -> dict[str, str]:
    return {"idToken": token, "type": token_type}


def auth_info(info: dict[str, Any], now: float, lifetime_s: float = 0) -> AuthInfo:
    """The core's view of an IdTokenInfo. Statuses the core does not know (NoCredit,
    NotAtThisTime, Unknown, ...) refuse like Invalid. Without cacheExpiryDateTime the
    answer is good for AuthCacheCtrlr.LifeTime (0: no limit)."""
    raw = info.get("status")
    status = AuthStatus(raw) if raw in AUTH_STATUSES else AuthStatus.Invalid
    expires = parse_timestamp(info.get("cacheExpiryDateTime"))
    if expires is None and lifetime_s > 0:
        expires = now + lifetime_s
    group = info.get("groupIdToken")
    return AuthInfo(status, expires, group.get("idToken") if isinstance(group, dict) else None)


def sampled_values(
    reading: MeterReading, measurands: list[str], context: str, offered_a: float = 0
) -> list[dict[str, Any]]:
    """SampledValueType entries for the measurands, per phase where it applies."""
    entries: list[dict[str, Any]] = []

    def add(measurand: str, value: float, unit: str | None, phase: str | None = None) -> None:
        number: int | float = round(value) if unit in ("Wh", "W") else round(value, 2)
        entry: dict[str, Any] = {
            "value": number,
            "context": context,
            "measurand": measurand,
            "location": "Outlet",
        }
        if phase:
            entry["phase"] = phase
        if unit:
            entry["unitOfMeasure"] = {"unit": unit}
        entries.append(entry)

    for m in measurements(reading, measurands, offered_a):
        add(m.measurand, m.value, m.unit, m.phase)
    return entries


def meter_value(
    reading: MeterReading | None,
    measurands: list[str],
    context: str,
    at: float,
    offered_a: float = 0,
) -> dict[str, Any] | None:
    """A MeterValueType, or None when there is nothing to report."""
    if reading is None:
        return None
    values = sampled_values(reading, measurands, context, offered_a)
    return {"timestamp": timestamp(at), "sampledValue": values} if values else None


def status_notification(connector: int, status: str, now: float) -> dict[str, Any]:
    """StatusNotificationRequest of a connector (each EVSE has one connector, id 1)."""
    return {
        "timestamp": timestamp(now),
        "connectorStatus": status,
        "evseId": connector,
        "connectorId": 1,
    }


def problem_event(c: Connector, problem: bool, event_id: int, now: float) -> dict[str, Any]:
    """NotifyEventRequest: the Connector's Problem variable changed (a fault came or went)."""
    data: dict[str, Any] = {
        "eventId": event_id,
        "timestamp": timestamp(now),
        "trigger": "Delta",
        "actualValue": "true" if problem else "false",
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": c.id, "connectorId": 1}},
        "variable": {"name": "Problem"},
    }
    if problem:
        data["techCode"] = c.error_code[:50]
        info = next(iter(c.faults.values()), "")
        if info:
            data["techInfo"] = info[:500]
    else:
        data["cleared"] = True
    return {"generatedAt": timestamp(now), "seqNo": 0, "eventData": [data]}
