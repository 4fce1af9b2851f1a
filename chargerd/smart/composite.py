"""What one charging profile allows at an instant, and where its limit may change.

The rules (OCPP 1.6 §3.13, 2.0.1 K): a profile counts inside validFrom/validTo; its schedule
starts at startSchedule (Absolute), at the latest daily/weekly instance of startSchedule
counted in UTC (Recurring), or at the transaction's start (Relative, and Absolute without a
startSchedule); it covers `duration` seconds from there (absent: until the profile ends or,
Recurring, the next instance). Per purpose the highest stack level that covers the instant
wins, even with a higher limit than a lower level; a TxDefault on the connector itself beats
one on connector 0 at the same level; a running transaction's TxProfile replaces TxDefault.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .profiles import (
    DEFAULT_PHASES,
    RECURRENCE_S,
    ChargingProfile,
    ConnectorFacts,
    Kind,
    Purpose,
    Recurrency,
    Session,
)


def amps(value: float, unit: str, number_phases: int | None, facts: ConnectorFacts) -> float:
    """`value` as amperes per phase: W over the phases the EV can use (the period's
    numberPhases, 3 when absent, never more than the connector has) at the nominal voltage."""
    if unit != "W":
        return value
    phases = min(number_phases or DEFAULT_PHASES, facts.phases)
    return value / (max(1, phases) * facts.voltage_v)


def schedule_start(
    profile: ChargingProfile, t: float, session: Session | None, default: float
) -> float | None:
    """When the schedule instance that would cover `t` began; None before the first one.
    `default` stands for the transaction's start when none runs (a schedule asked for
    before charging: as if it began now)."""
    kind, start = profile.kind, profile.schedule.start
    if kind is Kind.RECURRING and start is not None:
        period = RECURRENCE_S.get(Recurrency(profile.recurrency or Recurrency.DAILY))
        assert period is not None
        if t < start:
            return None
        return start + math.floor((t - start) / period) * period
    if kind is Kind.ABSOLUTE and start is not None:
        return start
    return session.started_at if session is not None else default


def valid_at(profile: ChargingProfile, t: float) -> bool:
    if profile.valid_from is not None and t < profile.valid_from:
        return False
    return profile.valid_to is None or t < profile.valid_to


def limit_at(
    profile: ChargingProfile,
    t: float,
    facts: ConnectorFacts,
    session: Session | None,
    default: float,
) -> float | None:
    """The profile's limit in A at `t`, or None when it does not cover `t`."""
    if not valid_at(profile, t):
        return None
    began = schedule_start(profile, t, session, default)
    if began is None:
        return None
    offset = t - began
    schedule = profile.schedule
    if offset < 0 or (schedule.duration_s is not None and offset >= schedule.duration_s):
        return None
    current = None
    for period in schedule.periods:  # ascending: checked before install
        if period.start_s > offset:
            break
        current = period
    if current is None:
        return None
    return amps(current.limit, schedule.unit, current.number_phases, facts)


def changes(
    profile: ChargingProfile, start: float, end: float, session: Session | None, default: float
) -> set[float]:
    """The instants in [start, end) at which the profile's limit may change."""
    found: set[float] = set()
    for edge in (profile.valid_from, profile.valid_to):
        if edge is not None:
            found.add(edge)
    schedule = profile.schedule
    offsets = [p.start_s for p in schedule.periods]
    if schedule.duration_s is not None:
        offsets.append(schedule.duration_s)
    if profile.kind is Kind.RECURRING and schedule.start is not None:
        period = RECURRENCE_S[Recurrency(profile.recurrency or Recurrency.DAILY)]
        first = max(0, math.floor((start - schedule.start) / period))
        last = math.floor((end - schedule.start) / period)
        instances = [schedule.start + k * period for k in range(first, last + 1)]
    else:
        began = schedule_start(profile, start, session, default)
        instances = [] if began is None else [began]
    for began in instances:
        found.update(began + offset for offset in offsets)
    return {t for t in found if start <= t < end}


def winner(
    profiles: Iterable[ChargingProfile],
    t: float,
    facts: ConnectorFacts,
    session: Session | None,
    default: float,
) -> float | None:
    """The limit of the highest stack level covering `t` (a connector's own profile before
    one for every connector at the same level)."""
    best: tuple[int, bool] | None = None
    limit = None
    for profile in profiles:
        value = limit_at(profile, t, facts, session, default)
        if value is None:
            continue
        rank = (profile.stack_level, profile.connector != 0)
        if best is None or rank > best:
            best, limit = rank, value
    return limit


def csms_limit(
    profiles: list[ChargingProfile],
    connector: int,
    t: float,
    facts: ConnectorFacts,
    session: Session | None,
    default: float,
) -> float | None:
    """The connector's limit from the CSMS's profiles at `t` in A (None: no profile
    applies): the station maximum, and the running transaction's TxProfile or else the
    TxDefault."""
    station_max = winner(
        (p for p in profiles if p.purpose is Purpose.STATION_MAX), t, facts, session, default
    )
    tx = None
    if session is not None:
        mine = (
            p
            for p in profiles
            if p.purpose is Purpose.TX
            and p.connector == connector
            and p.transaction_id == session.transaction_id
        )
        tx = winner(mine, t, facts, session, default)
    if tx is None:
        defaults = (
            p for p in profiles if p.purpose is Purpose.TX_DEFAULT and p.connector in (0, connector)
        )
        tx = winner(defaults, t, facts, session, default)
    return least(station_max, tx)


def least(*limits: float | None) -> float | None:
    present = [x for x in limits if x is not None]
    return min(present) if present else None
