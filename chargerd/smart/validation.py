"""The version-neutral reasons to refuse a charging profile (OCPP 1.6 §5.16 and 2.0.1 K01
agree on these; the adapters add their version's own rules)."""

from __future__ import annotations

from .profiles import RECURRENCE_S, ChargingProfile, Kind, Purpose, Rejection


def problem(
    profile: ChargingProfile,
    now: float,
    transactions: dict[int, str],
    connectors: set[int],
    max_stack_level: int,
    max_periods: int,
) -> Rejection | None:
    """The first reason `profile` cannot be installed, or None."""
    return _placement(profile, transactions, connectors) or _schedule(
        profile, now, max_stack_level, max_periods
    )


def _placement(
    profile: ChargingProfile, transactions: dict[int, str], connectors: set[int]
) -> Rejection | None:
    if profile.connector != 0 and profile.connector not in connectors:
        return Rejection.UNKNOWN_CONNECTOR
    if profile.purpose is Purpose.STATION_MAX and profile.connector != 0:
        return Rejection.STATION_MAX_ON_CONNECTOR
    if profile.purpose is Purpose.EXTERNAL and profile.source == "CSO":
        return Rejection.EXTERNAL_FROM_CSMS
    if profile.purpose is Purpose.TX:
        if profile.connector == 0:
            return Rejection.TX_ON_STATION
        running = transactions.get(profile.connector)
        if running is None:
            return Rejection.NO_TRANSACTION
        if profile.transaction_id is not None and profile.transaction_id != running:
            return Rejection.OTHER_TRANSACTION
    return None


def _schedule(
    profile: ChargingProfile, now: float, max_stack_level: int, max_periods: int
) -> Rejection | None:
    schedule = profile.schedule
    starts = [p.start_s for p in schedule.periods]
    if not 0 <= profile.stack_level <= max_stack_level:
        return Rejection.STACK_LEVEL
    if not starts:
        return Rejection.NO_PERIODS
    if len(starts) > max_periods:
        return Rejection.TOO_MANY_PERIODS
    if starts[0] != 0:
        return Rejection.FIRST_PERIOD
    if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        return Rejection.PERIOD_ORDER
    if schedule.unit not in ("A", "W"):
        return Rejection.UNIT
    if any(p.limit < 0 for p in schedule.periods):
        return Rejection.NEGATIVE_LIMIT
    if any(p.number_phases not in (None, 1, 2, 3) for p in schedule.periods):
        return Rejection.PHASES
    if profile.kind is Kind.RECURRING and (
        schedule.start is None or profile.recurrency not in {r.value for r in RECURRENCE_S}
    ):
        return Rejection.RECURRENCE
    if schedule.duration_s is not None and schedule.duration_s < 0:
        return Rejection.DURATION
    valid_to = profile.valid_to
    if valid_to is not None and (
        valid_to <= now or (profile.valid_from is not None and valid_to <= profile.valid_from)
    ):
        return Rejection.VALIDITY
    return None
