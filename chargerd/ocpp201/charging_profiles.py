"""OCPP 2.0.1 ChargingProfileType ↔ the engine's profiles (chargerd/smart/profiles.py), and
the K01 rules a profile from the CSMS must meet that the engine does not know, each with
the `statusInfo.reasonCode` of its rejection."""

from __future__ import annotations

import logging
from typing import Any

from ..ocpp16.smart import Invalid, Limits, schedule_from_wire, wire_time
from ..smart.profiles import ChargingProfile, Kind, Purpose, Rejection
from .payloads import timestamp

log = logging.getLogger("chargerd.ocpp201")

# the engine's reasons (smart/profiles.py Rejection) -> statusInfo.reasonCode (CiString20)
REASON_CODES = {
    Rejection.UNKNOWN_CONNECTOR: "UnknownEvse",
    Rejection.NO_TRANSACTION: "TxNotFound",
    Rejection.OTHER_TRANSACTION: "TxNotFound",
    Rejection.STACK_LEVEL: "InvalidStackLevel",
    Rejection.NO_PERIODS: "InvalidSchedule",
    Rejection.TOO_MANY_PERIODS: "InvalidSchedule",
    Rejection.FIRST_PERIOD: "InvalidSchedule",
    Rejection.PERIOD_ORDER: "InvalidSchedule",
    Rejection.DURATION: "InvalidSchedule",
    Rejection.UNIT: "UnsupportedRateUnit",
    Rejection.TOO_MANY_PROFILES: "TooManyProfiles",
    Rejection.VALIDITY: "InvalidValidity",
}


def reason_code(problem: str) -> str:
    """A statusInfo.reasonCode for one of the engine's reasons, or of the wire checks."""
    if problem in REASON_CODES:
        return REASON_CODES[Rejection(problem)]
    if "unit" in problem:
        return "UnsupportedRateUnit"
    if "period" in problem:
        return "InvalidSchedule"
    return "InvalidProfile"


def profile_from_wire(wire: dict[str, Any], evse: int, limits: Limits) -> ChargingProfile:
    """A ChargingProfileType for `evse` as the engine's profile (its transactionId is the
    station's own, as 2.0.1 uses it); Invalid (its args: reasonCode, text) says why not."""
    try:
        return _profile_from_wire(wire, evse, limits)
    except Invalid as why:
        if len(why.args) == 1:
            raise Invalid(reason_code(str(why)), str(why)) from None
        raise
    except (KeyError, TypeError, ValueError) as exc:  # fields the schema lets through badly
        raise Invalid("InvalidProfile", f"malformed ({type(exc).__name__}: {exc})") from None


def _profile_from_wire(wire: dict[str, Any], evse: int, limits: Limits) -> ChargingProfile:
    purpose, kind = Purpose(wire["chargingProfilePurpose"]), Kind(wire["chargingProfileKind"])
    if purpose is Purpose.EXTERNAL:
        raise Invalid("InvalidProfile", "external constraints are set by local systems only")
    if purpose is Purpose.STATION_MAX and (evse != 0 or kind is Kind.RELATIVE):
        raise Invalid("InvalidProfile", "ChargingStationMaxProfile: EVSE 0, not Relative")
    if purpose is Purpose.TX and (evse == 0 or "transactionId" not in wire):
        raise Invalid("TxNotFound", "a TxProfile needs an EVSE and its transactionId")
    if purpose is not Purpose.TX and "transactionId" in wire:
        raise Invalid("InvalidProfile", "only a TxProfile has a transactionId")
    stack_level = int(wire["stackLevel"])
    if not 0 <= stack_level <= limits.max_stack_level:
        raise Invalid("InvalidStackLevel", f"stack level beyond 0..{limits.max_stack_level}")
    schedules = wire["chargingSchedule"]
    if len(schedules) > 1:  # the others are alternatives for ISO 15118, not spoken here
        log.info("profile %s: only the first of %d schedules is used", wire["id"], len(schedules))
    schedule = schedule_from_wire(schedules[0], limits)
    if kind is Kind.RELATIVE and schedule.start is not None:
        raise Invalid("InvalidSchedule", "a Relative profile has no startSchedule")
    if kind is not Kind.RELATIVE and schedule.start is None:
        raise Invalid("InvalidSchedule", f"an {kind} profile needs startSchedule")
    recurrency = wire.get("recurrencyKind")
    if kind is Kind.RECURRING and recurrency not in ("Daily", "Weekly"):
        raise Invalid("InvalidProfile", "a Recurring profile needs recurrencyKind")
    valid_from, valid_to = wire_time(wire, "validFrom"), wire_time(wire, "validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Invalid("InvalidProfile", "validTo is not after validFrom")
    return ChargingProfile(
        id=int(wire["id"]),
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        connector=evse,
        recurrency=recurrency if kind is Kind.RECURRING else None,
        valid_from=valid_from,
        valid_to=valid_to,
        transaction_id=wire.get("transactionId"),
    )


def wire_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The engine's profile as a 2.0.1 ChargingProfileType (schedule id = profile id)."""
    s = profile.schedule
    periods = []
    for period in s.periods:
        entry: dict[str, Any] = {"startPeriod": period.start_s, "limit": period.limit}
        if period.number_phases is not None:
            entry["numberPhases"] = period.number_phases
        periods.append(entry)
    schedule: dict[str, Any] = {
        "id": profile.id,
        "chargingRateUnit": s.unit,
        "chargingSchedulePeriod": periods,
    }
    if s.start is not None:
        schedule["startSchedule"] = timestamp(s.start)
    if s.duration_s is not None:
        schedule["duration"] = s.duration_s
    if s.min_rate is not None:
        schedule["minChargingRate"] = s.min_rate
    wire: dict[str, Any] = {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": str(profile.purpose),
        "chargingProfileKind": str(profile.kind),
        "chargingSchedule": [schedule],
    }
    if profile.recurrency:
        wire["recurrencyKind"] = profile.recurrency
    if profile.valid_from is not None:
        wire["validFrom"] = timestamp(profile.valid_from)
    if profile.valid_to is not None:
        wire["validTo"] = timestamp(profile.valid_to)
    if profile.transaction_id is not None:
        wire["transactionId"] = profile.transaction_id
    return wire
