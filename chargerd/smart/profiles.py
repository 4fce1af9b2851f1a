"""Charging profiles and limits as the smart-charging engine sees them: no OCPP version here.

The adapters translate OCPP 1.6 / 2.0.1 messages to and from these types (their field names
follow OCPP 2.0.1 where the versions differ only by name). Times are epoch seconds (UTC),
durations whole seconds; currents are amperes per phase, powers watts in total.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

MIN_OFFER_A = 6.0  # IEC 61851: the smallest current a PWM pilot can offer
DEFAULT_PHASES = 3  # OCPP 1.6: a W limit without numberPhases means three phases


class Purpose(StrEnum):
    STATION_MAX = "ChargingStationMaxProfile"  # 1.6: ChargePointMaxProfile
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"  # local systems only (EMS, SO)


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


RECURRENCE_S = {Recurrency.DAILY: 86_400, Recurrency.WEEKLY: 7 * 86_400}


@dataclass(frozen=True)
class Period:
    start_s: int  # from the schedule's start
    limit: float  # in the schedule's unit
    number_phases: int | None = None  # None: all the connector has (1.6: 3)


@dataclass(frozen=True)
class Schedule:
    unit: str  # "A" (per phase) or "W" (total)
    periods: tuple[Period, ...]
    start: float | None = None  # startSchedule; None: Absolute from the transaction start
    duration_s: int | None = None  # None: the last period lasts until the profile ends
    min_rate: float | None = None  # minChargingRate: a hint, never a floor


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: Schedule
    connector: int = 0  # 0: the station (ChargingStationMax) or every connector
    recurrency: str | None = None  # "Daily" | "Weekly" for Recurring
    valid_from: float | None = None
    valid_to: float | None = None
    transaction_id: str | None = None  # the station's Transaction.id (TxProfile)
    source: str = "CSO"  # CSO, EMS, SO, Other


@dataclass(frozen=True)
class LimitPeriod:
    """One period of a composite schedule: from `start_s` on, at most `limit_a` (or W when the
    composite was asked in W), set by `source`."""

    start_s: int
    limit_a: float
    source: str  # "csms" | "site" | "external" | "connector"


@dataclass(frozen=True)
class ConnectorFacts:
    id: int
    max_current_a: float  # per phase
    phases: int
    voltage_v: float = 230.0  # nominal, phase to neutral


@dataclass(frozen=True)
class Session:
    """A transaction running on a connector, as the balancer needs it."""

    connector: int
    transaction_id: str
    started_at: float  # the transaction's start: Relative profiles count from here
    arrived_at: float  # when the EV came: the order of service when current is short
    drawing_a: float | None = None  # measured per phase; None: unknown
    ev_suspended: bool = False  # the EV does not draw (SuspendedEV)
    drawing_at: float | None = None  # when drawing_a was measured; None: just now


@dataclass(frozen=True)
class SiteLimit:
    """The grid connection shared by all connectors (`site:` in the YAML)."""

    max_current_a: float  # per phase, all connectors together
    margin_a: float = 1.0  # kept free under a measured budget
    fallback_current_a: float = 6.0  # per session while the grid meter fails


@dataclass(frozen=True)
class Limit:
    """What a connector may draw now."""

    limit_a: float  # the computed limit; may be below 6 A
    offered_a: float  # what the pilot offers: 0 when the limit is below 6 A, else the limit
    source: str  # which of csms, site, external, connector binds


class Rejection(StrEnum):
    """Why `SmartCharging.check` refuses a profile (the adapters map these to each version's
    status and reasonCode)."""

    UNKNOWN_CONNECTOR = "no such connector"
    STATION_MAX_ON_CONNECTOR = "a station maximum belongs on connector 0"
    TX_ON_STATION = "a TxProfile belongs on a connector > 0"
    NO_TRANSACTION = "no transaction runs on the connector"
    OTHER_TRANSACTION = "the transactionId is not the connector's running transaction"
    EXTERNAL_FROM_CSMS = "external constraints come from local systems only"
    ID_TAKEN = "the id belongs to an external constraint"
    STACK_LEVEL = "stack level outside 0..the maximum"
    NO_PERIODS = "the schedule has no periods"
    TOO_MANY_PERIODS = "more periods than allowed"
    FIRST_PERIOD = "the first period does not start at 0"
    PERIOD_ORDER = "period starts are not ascending"
    UNIT = "unit neither A nor W"
    NEGATIVE_LIMIT = "a limit below 0"
    PHASES = "numberPhases outside 1..3"
    RECURRENCE = "Recurring needs a startSchedule and Daily or Weekly"
    DURATION = "duration below 0"
    VALIDITY = "validTo passed or before validFrom"
    TOO_MANY_PROFILES = "more profiles than allowed"


def profile_to_dict(profile: ChargingProfile) -> dict[str, Any]:
    """Plain JSON-able form, for storage."""
    return asdict(profile)


def profile_from_dict(data: dict[str, Any]) -> ChargingProfile:
    schedule = dict(data["schedule"])
    periods = tuple(Period(**p) for p in schedule.pop("periods"))
    return ChargingProfile(
        **{
            **data,
            "purpose": Purpose(data["purpose"]),
            "kind": Kind(data["kind"]),
            "schedule": Schedule(periods=periods, **schedule),
        }
    )
