"""OCPP 1.6 Smart Charging profile: SetChargingProfile, ClearChargingProfile,
GetCompositeSchedule and the TxProfile of RemoteStartTransaction, translated to and from the
version-neutral engine (chargerd/smart) that the daemon's "smart" part runs.

The wire checks the engine cannot know live here: ChargePointMaxProfile only on connector
0, TxProfile only on a connector with a running transaction whose CSMS id matches
`transactionId` (the station's own id is bound into the profile), the units the
ChargingScheduleAllowedChargingRateUnit key allows, the key maxima. Anything malformed the
schema let through is Rejected with the reason logged; nothing raises to the CSMS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..connection import RequestHandler
from ..core.model import Transaction
from ..smart.profiles import (
    ChargingProfile,
    Kind,
    Limit,
    LimitPeriod,
    Period,
    Purpose,
    Schedule,
    Session,
)
from .payloads import parse_timestamp, timestamp

if TYPE_CHECKING:
    from ..smart.engine import SmartCharging
    from .adapter import Ocpp16Adapter

log = logging.getLogger("chargerd.ocpp16")

PURPOSES = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}
WIRE_PURPOSE = {purpose: name for name, purpose in PURPOSES.items()}
UNIT_NAMES = {"A": "Current", "W": "Power"}  # ChargingScheduleAllowedChargingRateUnit
PENDING_S = 600.0  # a RemoteStart's TxProfile waits this long at most for its transaction


class SmartPart(Protocol):
    """What these messages need of the daemon's "smart" part (chargerd/smart/part.py)."""

    engine: SmartCharging
    on_limit_changed: list[Callable[[int, Limit, Limit | None], None]]
    external_changed: list[Callable[[int, float | None, str], None]]

    def install(self, profile: ChargingProfile, now: float) -> None: ...

    def clear(self, **criteria: Any) -> list[ChargingProfile]: ...

    def transactions(self) -> dict[int, str]: ...

    def sessions(self, now: float) -> dict[int, Session]: ...


class Invalid(Exception):
    """A profile this station will not install; the message says why."""


@dataclass(frozen=True)
class Limits:
    """The maxima the 1.6 configuration keys announce."""

    max_stack_level: int
    max_periods: int
    units: frozenset[str]  # "A", "W"


def limits_from_keys(keys: dict[str, bool | int | str]) -> Limits:
    allowed = {u.strip() for u in str(keys["ChargingScheduleAllowedChargingRateUnit"]).split(",")}
    return Limits(
        int(keys["ChargeProfileMaxStackLevel"]),
        int(keys["ChargingScheduleMaxPeriods"]),
        frozenset(unit for unit, name in UNIT_NAMES.items() if name in allowed),
    )


def wire_time(wire: dict[str, Any], key: str) -> float | None:
    """The date and time at `key` (None when absent); Invalid when it is none."""
    text = wire.get(key)
    if text is None:
        return None
    at = parse_timestamp(text)
    if at is None:
        raise Invalid(f"{key} {text!r} is not a date and time")
    return at


def schedule_from_wire(wire: dict[str, Any], limits: Limits) -> Schedule:
    unit = wire["chargingRateUnit"]
    if unit not in limits.units:
        raise Invalid(f"charging rate unit {unit} is not allowed here")
    periods = tuple(
        Period(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
        for p in wire["chargingSchedulePeriod"]
    )
    if not periods:
        raise Invalid("a schedule needs at least one period")
    if len(periods) > limits.max_periods:
        raise Invalid(f"{len(periods)} periods; at most {limits.max_periods}")
    if periods[0].start_s != 0:
        raise Invalid("the first period must start at 0")
    if any(b.start_s <= a.start_s for a, b in zip(periods, periods[1:], strict=False)):
        raise Invalid("periods must start in ascending order")
    if any(p.limit < 0 for p in periods):
        raise Invalid("a limit below 0")
    if any(p.number_phases not in (None, 1, 2, 3) for p in periods):
        raise Invalid("numberPhases must be 1, 2 or 3")
    duration = wire.get("duration")
    if duration is not None and duration < 0:
        raise Invalid("a negative duration")
    min_rate = wire.get("minChargingRate")
    return Schedule(
        unit=unit,
        periods=periods,
        start=wire_time(wire, "startSchedule"),
        duration_s=duration,
        min_rate=float(min_rate) if min_rate is not None else None,
    )


def profile_from_wire(
    wire: dict[str, Any], connector: int, limits: Limits, transaction_id: str | None = None
) -> ChargingProfile:
    """A csChargingProfiles for `connector` as the engine's profile (TxProfile: bound to the
    station's `transaction_id`); Invalid says why it cannot be one."""
    try:
        return _profile_from_wire(wire, connector, limits, transaction_id)
    except (KeyError, TypeError, ValueError) as exc:  # fields the schema lets through badly
        raise Invalid(f"malformed profile ({type(exc).__name__}: {exc})") from None


def _profile_from_wire(
    wire: dict[str, Any], connector: int, limits: Limits, transaction_id: str | None
) -> ChargingProfile:
    purpose = PURPOSES[wire["chargingProfilePurpose"]]
    kind = Kind(wire["chargingProfileKind"])
    if purpose is Purpose.STATION_MAX and connector != 0:
        raise Invalid("ChargePointMaxProfile is for connector 0 only")
    if purpose is Purpose.TX and connector == 0:
        raise Invalid("a TxProfile needs a connector above 0")
    stack_level = int(wire["stackLevel"])
    if not 0 <= stack_level <= limits.max_stack_level:
        raise Invalid(f"stack level {stack_level} beyond 0..{limits.max_stack_level}")
    schedule = schedule_from_wire(wire["chargingSchedule"], limits)
    recurrency = wire.get("recurrencyKind")
    if kind is Kind.RECURRING:
        if recurrency not in ("Daily", "Weekly"):
            raise Invalid("a Recurring profile needs recurrencyKind Daily or Weekly")
        if schedule.start is None:
            raise Invalid("a Recurring profile needs startSchedule")
    elif kind is Kind.RELATIVE and schedule.start is not None:
        # 1.6 does not forbid it; Relative counts from the transaction's start (our choice)
        schedule = Schedule(schedule.unit, schedule.periods, None, schedule.duration_s,
                            schedule.min_rate)  # fmt: skip
    valid_from, valid_to = wire_time(wire, "validFrom"), wire_time(wire, "validTo")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Invalid("validTo is not after validFrom")
    return ChargingProfile(
        id=int(wire["chargingProfileId"]),
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        schedule=schedule,
        connector=connector,
        recurrency=recurrency if kind is Kind.RECURRING else None,
        valid_from=valid_from,
        valid_to=valid_to,
        transaction_id=transaction_id if purpose is Purpose.TX else None,
    )


def composite_answer(
    connector: int, periods: list[LimitPeriod], start: float, duration_s: int, unit: str
) -> dict[str, Any]:
    """GetCompositeSchedule.conf Accepted: scheduleStart now, at least one period, limits
    to the 0.1 the 1.6 schema allows."""
    wire_periods = [{"startPeriod": p.start_s, "limit": round(p.limit_a, 1)} for p in periods]
    if not wire_periods:  # never an empty list: some CSMSes break on it
        raise ValueError("the engine gave an empty composite schedule")
    return {
        "status": "Accepted",
        "connectorId": connector,
        "scheduleStart": timestamp(start),
        "chargingSchedule": {
            "duration": duration_s,
            "startSchedule": timestamp(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": wire_periods,
        },
    }


class SmartMessages:
    """The Smart Charging requests of one 1.6 adapter."""

    def __init__(self, adapter: Ocpp16Adapter):
        self.a = adapter
        # RemoteStartTransaction's TxProfile until its transaction starts:
        # connector (None: whichever the station picks) -> (idTag, csChargingProfiles, since)
        self._pending: dict[int | None, tuple[str, dict[str, Any], float]] = {}

    def handlers(self) -> dict[str, RequestHandler]:
        return {
            "SetChargingProfile": self.set_charging_profile,
            "ClearChargingProfile": self.clear_charging_profile,
            "GetCompositeSchedule": self.get_composite_schedule,
        }

    def _part(self) -> SmartPart | None:
        part = self.a.rt.parts.get("smart")
        return part  # type: ignore[return-value]

    def _limits(self) -> Limits:
        return limits_from_keys(self.a.keys)

    def _connectors(self) -> set[int]:
        return set(self.a.rt.station.connectors)

    async def set_charging_profile(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        if part is None:
            return {"status": "NotSupported"}
        now = time.time()
        wire, connector = p["csChargingProfiles"], p["connectorId"]
        try:
            profile = self._checked(part, wire, connector, now)
        except Invalid as why:
            log.info("SetChargingProfile on connector %s Rejected: %s", connector, why)
            return {"status": "Rejected"}
        part.install(profile, now)
        log.info(
            "charging profile %d (%s, stack level %d) installed on connector %d",
            profile.id,
            wire["chargingProfilePurpose"],
            profile.stack_level,
            connector,
        )
        return {"status": "Accepted"}

    def _checked(
        self, part: SmartPart, wire: dict[str, Any], connector: int, now: float
    ) -> ChargingProfile:
        if connector != 0 and connector not in self._connectors():
            raise Invalid(f"no connector {connector}")
        running = part.transactions()
        tx_id = running.get(connector)
        if wire.get("chargingProfilePurpose") == "TxProfile":
            if tx_id is None:
                raise Invalid(f"a TxProfile needs a transaction on connector {connector}")
            given = wire.get("transactionId")
            known = self.a.store.csms_id(tx_id)
            # before the CSMS's id is known (offline start) it cannot be compared
            if given is not None and known is not None and str(given) != known:
                raise Invalid(f"transactionId {given} is not the one running here ({known})")
        profile = profile_from_wire(wire, connector, self._limits(), tx_id)
        problem = part.engine.check(profile, now, running)
        if problem:
            raise Invalid(problem)
        return profile

    async def clear_charging_profile(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        if part is None:
            return {"status": "Unknown"}
        if "id" in p:  # a specific profile: the other fields do not narrow it
            removed = part.clear(id=p["id"])
        else:
            purpose = p.get("chargingProfilePurpose")
            removed = part.clear(
                connector=p.get("connectorId"),
                purpose=PURPOSES[purpose] if purpose else None,
                stack_level=p.get("stackLevel"),
            )
        log.info("ClearChargingProfile %s removed %s", p, [r.id for r in removed] or "nothing")
        return {"status": "Accepted" if removed else "Unknown"}

    async def get_composite_schedule(self, p: dict[str, Any]) -> dict[str, Any]:
        part = self._part()
        connector = p["connectorId"]
        limits = self._limits()
        unit = p.get("chargingRateUnit") or ("A" if "A" in limits.units else "W")
        if part is None or (connector != 0 and connector not in self._connectors()):
            return {"status": "Rejected"}
        if unit not in limits.units:
            log.info("GetCompositeSchedule in %s Rejected: unit not allowed", unit)
            return {"status": "Rejected"}
        now = time.time()
        duration = max(0, int(p["duration"]))
        periods = part.engine.composite(connector, now, duration, part.sessions(now), unit)
        return composite_answer(connector, periods, now, duration, unit)

    # --- RemoteStartTransaction with a chargingProfile ----------------------------------------

    def remote_start_refused(self, p: dict[str, Any]) -> bool:
        """Check the TxProfile of a RemoteStartTransaction before the start; kept until the
        transaction it starts begins (it may begin at once, during the start itself).
        True: the request is to be Rejected."""
        wire = p.get("chargingProfile")
        if wire is None:
            return False
        part = self._part()
        connector = p.get("connectorId")
        try:
            if part is None:
                raise Invalid("this station runs no smart charging")
            if wire["chargingProfilePurpose"] != "TxProfile":
                raise Invalid("the profile of a RemoteStartTransaction must be a TxProfile")
            probe = profile_from_wire(wire, connector or 1, self._limits(), "remote start")
            problem = part.engine.check(probe, time.time(), {probe.connector: "remote start"})
            if problem:
                raise Invalid(problem)
        except (Invalid, KeyError, TypeError) as why:
            log.info("RemoteStartTransaction Rejected: its charging profile: %s", why)
            return True
        self._pending[connector] = (p["idTag"], wire, time.time())
        if connector is not None:
            part.hold(connector, probe, time.time())  # from the first offer on
        return False

    def remote_start_answered(self, p: dict[str, Any], accepted: bool) -> None:
        if "chargingProfile" in p and not accepted:
            self._pending.pop(p.get("connectorId"), None)
            part = self._part()
            if part is not None and p.get("connectorId") is not None:
                part.hold(p["connectorId"], None, time.time())

    def transaction_started(self, tx: Transaction) -> None:
        """Bind a RemoteStart's TxProfile to the transaction the station began for it, before
        the part sees the start: it applies from the first moment."""
        now = time.time()
        for key in (tx.connector, None):
            pending = self._pending.get(key)
            if pending is None:
                continue
            id_tag, wire, since = pending
            if now - since > PENDING_S:
                del self._pending[key]
                continue
            if id_tag != tx.id_tag:
                continue
            del self._pending[key]
            part = self._part()
            if part is None:
                return
            try:
                profile = profile_from_wire(wire, tx.connector, self._limits(), tx.id)
            except Invalid as why:
                log.warning("RemoteStart TxProfile not installed: %s", why)
                return
            part.install(profile, now)
            log.info("RemoteStart TxProfile %d bound to transaction %s", profile.id, tx.id)
            return

