"""The smart-charging engine: installed profiles, external limits and the site limit in, a
composite schedule and one limit per connector out. Sans-I/O: time is an argument.

Per connector and instant the limit is the least of: the connector's maximum, the CSMS's
profiles (`composite.csms_limit`), the external constraints on the connector and on the
station, and the connector's share of the station's budget. The budget — the least of the
site limit (`site:`, with the grid meter's reading), the CSMS's station maximum and an
external limit on the whole station — is shared between the charging sessions by
`balancer.share`; with none of them each session gets its own limit. All currents are per
phase, and the budget is taken as if every connector drew on every phase (safe for
single-phase connectors).

External constraints (EMS, grid operator) are kept as ChargingStationExternalConstraints
profiles with reserved ids, so they show in GetChargingProfiles and survive with the rest;
the CSMS cannot clear them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from . import balancer
from .composite import changes, csms_limit, least, winner
from .profiles import (
    MIN_OFFER_A,
    ChargingProfile,
    ConnectorFacts,
    Kind,
    Limit,
    LimitPeriod,
    Period,
    Purpose,
    Rejection,
    Schedule,
    Session,
    SiteLimit,
)
from .validation import problem

EXTERNAL_ID_BASE = 2_000_000_000  # + connector: the id of `chargerctl limit`'s profile
HORIZON_S = 8 * 86_400  # next_change looks this far (a weekly recurrence and a day)
_TIE_A = 0.01  # shares are rounded down to 10 mA


class SmartCharging:
    def __init__(
        self,
        connectors: list[ConnectorFacts],
        site: SiteLimit | None,
        profiles: Iterable[ChargingProfile] = (),
        max_stack_level: int = 8,
        max_periods: int = 24,
        max_profiles: int = 32,
    ) -> None:
        self.connectors = {c.id: c for c in connectors}
        first = connectors[0]
        # the grid connection: its "connector maximum" is what all connectors can draw
        self.station = ConnectorFacts(
            0,
            sum(c.max_current_a for c in connectors),
            max(c.phases for c in connectors),
            first.voltage_v,
        )
        self.site = site
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_profiles = max_profiles
        self._profiles = {p.id: p for p in profiles}
        self._paused: set[int] = set()  # sessions the balancer gave nothing last time
        self._offered: dict[int, float] = {}
        self._grid: tuple[float | None, bool] = (None, True)

    # --- the profile store -------------------------------------------------------------

    def check(
        self, profile: ChargingProfile, now: float, transactions: dict[int, str]
    ) -> Rejection | None:
        """Why `profile` cannot be installed (version-neutral rules), or None.
        `transactions`: the running transactions by connector."""
        taken = self._profiles.get(profile.id)
        external = (Purpose.EXTERNAL, Purpose.EXTERNAL)
        if (
            taken is not None
            and (taken.purpose, profile.purpose) != external
            and (Purpose.EXTERNAL in (taken.purpose, profile.purpose))
        ):
            return Rejection.ID_TAKEN
        found = problem(profile, now, transactions, set(self.connectors), self.max_stack_level,
                        self.max_periods)  # fmt: skip
        if found is not None:
            return found
        kept = [
            p for p in self._replaced_by(profile, transactions) if p.purpose is not Purpose.EXTERNAL
        ]
        installed = sum(1 for p in self._profiles.values() if p.purpose is not Purpose.EXTERNAL)
        if profile.purpose is not Purpose.EXTERNAL and installed - len(kept) >= self.max_profiles:
            return Rejection.TOO_MANY_PROFILES
        return None

    def same_slot(self, profile: ChargingProfile) -> list[ChargingProfile]:
        """Installed profiles with another id at the same stack level, purpose and connector
        (and transaction): 1.6 replaces them, 2.0.1 rejects the new one."""
        slot = _slot(profile)
        return [p for p in self._profiles.values() if p.id != profile.id and _slot(p) == slot]

    def install(
        self, profile: ChargingProfile, now: float, transactions: dict[int, str] | None = None
    ) -> list[ChargingProfile]:
        """Install a checked profile; returns the ones it replaced (same id, or same stack
        level, purpose and connector). A TxProfile without a transactionId is bound to the
        transaction running on its connector (from `transactions`)."""
        if profile.purpose is Purpose.TX and profile.transaction_id is None and transactions:
            running = transactions.get(profile.connector)
            if running is not None:
                profile = replace(profile, transaction_id=running)
        replaced = self._replaced_by(profile, transactions or {})
        for old in replaced:
            del self._profiles[old.id]
        self._profiles[profile.id] = profile
        return replaced

    def _replaced_by(
        self, profile: ChargingProfile, transactions: dict[int, str]
    ) -> list[ChargingProfile]:
        if profile.purpose is Purpose.TX and profile.transaction_id is None:
            profile = replace(profile, transaction_id=transactions.get(profile.connector))
        same_id = [self._profiles[profile.id]] if profile.id in self._profiles else []
        return same_id + self.same_slot(profile)

    def clear(
        self,
        *,
        id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> list[ChargingProfile]:
        """Remove the profiles with `id`, or else matching every criterion given (none: all);
        returns them. External constraints only when `purpose` names them."""

        def matches(p: ChargingProfile) -> bool:
            if p.purpose is Purpose.EXTERNAL and purpose is not Purpose.EXTERNAL:
                return False
            if id is not None:
                return p.id == id
            return (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        return self._remove(matches)

    def profiles(
        self,
        *,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[ChargingProfile]:
        """The installed profiles matching every criterion given, external ones included."""
        wanted = None if ids is None else set(ids)
        found = [
            p
            for p in self._profiles.values()
            if (connector is None or p.connector == connector)
            and (purpose is None or p.purpose is purpose)
            and (stack_level is None or p.stack_level == stack_level)
            and (wanted is None or p.id in wanted)
        ]
        return sorted(found, key=lambda p: (p.connector, p.purpose, p.stack_level, p.id))

    def transaction_ended(self, transaction_id: str) -> list[ChargingProfile]:
        """The transaction's TxProfiles go with it."""
        return self._remove(
            lambda p: p.purpose is Purpose.TX and p.transaction_id == transaction_id
        )

    def expire(self, now: float) -> list[ChargingProfile]:
        """Remove the profiles whose validTo has passed."""
        return self._remove(lambda p: p.valid_to is not None and p.valid_to <= now)

    def _remove(self, matches) -> list[ChargingProfile]:  # noqa: ANN001
        gone = [p for p in self._profiles.values() if matches(p)]
        for p in gone:
            del self._profiles[p.id]
        return gone

    # --- external constraints ----------------------------------------------------------

    def set_external(
        self, connector: int, amps: float, source: str, now: float | None = None
    ) -> ChargingProfile:
        """An external limit on a connector (0: the whole station) until cleared."""
        profile = ChargingProfile(
            id=EXTERNAL_ID_BASE + connector,
            stack_level=0,
            purpose=Purpose.EXTERNAL,
            kind=Kind.ABSOLUTE,
            schedule=Schedule("A", (Period(0, float(amps)),), start=now),
            connector=connector,
            source=source,
        )
        self._profiles[profile.id] = profile
        return profile

    def clear_external(self, connector: int | None) -> list[ChargingProfile]:
        """Remove the external limit of `connector` (None: every one); returns them."""
        return self._remove(
            lambda p: _is_external_limit(p) and (connector is None or p.connector == connector)
        )

    @property
    def external(self) -> dict[int, tuple[float, str]]:
        """`chargerctl limit`'s limits: {connector: (amps, source)}."""
        return {
            p.connector: (p.schedule.periods[0].limit, p.source)
            for p in self._profiles.values()
            if _is_external_limit(p)
        }

    # --- what the hardware does --------------------------------------------------------

    def limits(
        self, now: float, sessions: dict[int, Session], grid_a: float | None, grid_ok: bool = True
    ) -> dict[int, Limit]:
        """Each connector's limit now. `grid_a`: the grid meter's reading (None: no meter);
        `grid_ok` False: the meter failed, the fallback current applies."""
        self._grid = (grid_a, grid_ok)
        found, _, self._paused = self._evaluate(now, sessions, now)
        self._offered = {c: limit.offered_a for c, limit in found.items()}
        return found

    def composite(
        self, connector: int, start: float, duration_s: int, sessions: dict[int, Session],
        unit: str = "A",
    ) -> list[LimitPeriod]:  # fmt: skip
        """The limits of `connector` (0: the grid connection) from `start` for `duration_s`,
        in A per phase or W in total; never empty, equal neighbours merged."""
        facts = self.station if connector == 0 else self.connectors[connector]
        end = start + max(0, duration_s)
        instants = {start} | self._changes(start, end, sessions, start)
        periods: list[LimitPeriod] = []
        for t in sorted(instants):
            found, station, _ = self._evaluate(t, sessions, start)
            limit_a, source = (
                station if connector == 0 else (found[connector].limit_a, found[connector].source)
            )
            value = limit_a * facts.phases * facts.voltage_v if unit == "W" else limit_a
            offset = int(round(t - start))
            if periods and periods[-1].start_s == offset:  # a change within the same second
                periods.pop()
            if not periods or periods[-1].limit_a != round(value, 6):
                periods.append(LimitPeriod(offset, round(value, 6), source))
        return periods

    def next_change(self, now: float, sessions: dict[int, Session]) -> float | None:
        """The next instant after `now` at which the limits may change by time alone."""
        later = [t for t in self._changes(now, now + HORIZON_S, sessions, None) if t > now]
        return min(later, default=None)

    def _changes(
        self, start: float, end: float, sessions: dict[int, Session], default: float | None
    ) -> set[float]:
        """Where any profile may change in [start, end). `default` None: skip schedules that
        would start with a transaction on a connector without one."""
        found: set[float] = set()
        for p in self._profiles.values():
            for c in [p.connector] if p.connector else [0, *self.connectors]:
                session = sessions.get(c)
                anchored = p.schedule.start is not None and p.kind is not Kind.RELATIVE
                if session is None and not anchored and default is None:
                    continue
                found |= changes(p, start, end, session, start if default is None else default)
        return found

    def _evaluate(
        self, t: float, sessions: dict[int, Session], default: float
    ) -> tuple[dict[int, Limit], tuple[float, str], set[int]]:
        """Every connector's limit at `t`, the grid connection's (limit, source), and the
        sessions the balancer pauses."""
        profiles = [p for p in self._profiles.values() if p.purpose is not Purpose.EXTERNAL]
        external = [p for p in self._profiles.values() if p.purpose is Purpose.EXTERNAL]

        def station_external(facts: ConnectorFacts) -> float | None:
            mine = (p for p in external if p.connector == 0)
            return winner(mine, t, facts, None, default)

        caps: dict[int, tuple[float, str]] = {}
        for c, facts in self.connectors.items():
            session = sessions.get(c)
            mine = (p for p in external if p.connector == c)
            caps[c] = _least(
                (facts.max_current_a, "connector"),
                (csms_limit(profiles, c, t, facts, session, default), "csms"),
                (least(winner(mine, t, facts, session, default), station_external(facts)),
                 "external"),
            )  # fmt: skip
        station_max = winner(
            (p for p in profiles if p.purpose is Purpose.STATION_MAX),
            t,
            self.station,
            None,
            default,
        )
        grid_a, grid_ok = self._grid
        charging = {c: s for c, s in sessions.items() if c in self.connectors}
        budget = [(station_max, "csms"), (station_external(self.station), "external")]
        if self.site is not None:
            drawn = sum(s.drawing_a or 0.0 for s in charging.values())
            measured = grid_a if grid_ok else None
            budget.append((balancer.site_budget(self.site, measured, drawn), "site"))
        shared = [(a, source) for a, source in budget if a is not None]
        station = _least((self.station.max_current_a, "connector"), *budget)
        found: dict[int, Limit] = {}
        if not shared:
            for c, (cap, source) in caps.items():
                found[c] = _limit(cap, source)
            return found, station, set()
        budget_a, budget_source = _least(*shared)
        demands = [
            balancer.Demand(
                c, s.arrived_at, caps[c][0],
                balancer.want(caps[c][0], self._offered.get(c), s.drawing_a, s.ev_suspended),
                c in self._paused,
            )
            for c, s in charging.items()
        ]  # fmt: skip
        if self.site is not None and not grid_ok:
            demands = balancer.fallback_caps(self.site, demands)
        shares = balancer.share(budget_a, demands)
        left = max(0.0, budget_a - sum(shares.values()))
        for c, (cap, source) in caps.items():
            given = shares.get(c, min(cap, left))
            # below 6 A of its own it pauses whatever its share: its own limit says why
            own = given >= cap - _TIE_A or cap < MIN_OFFER_A
            found[c] = _limit(cap, source) if own else _limit(given, budget_source)
        paused = {c for c in charging if shares[c] == 0 and caps[c][0] >= MIN_OFFER_A}
        return found, station, paused


def _least(*candidates: tuple[float | None, str]) -> tuple[float, str]:
    """The smallest present limit and its source (the first one given on a tie)."""
    present = [(a, source) for a, source in candidates if a is not None]
    best = present[0]
    for a, source in present[1:]:
        if a < best[0]:
            best = (a, source)
    return best


def _slot(p: ChargingProfile) -> tuple[object, ...]:
    transaction = p.transaction_id if p.purpose is Purpose.TX else None
    return (p.stack_level, p.purpose, p.connector, transaction)


def _is_external_limit(profile: ChargingProfile) -> bool:
    return (
        profile.purpose is Purpose.EXTERNAL and profile.id == EXTERNAL_ID_BASE + profile.connector
    )


def _limit(limit_a: float, source: str) -> Limit:
    limit_a = max(0.0, round(limit_a, 6))
    return Limit(limit_a, limit_a if limit_a >= MIN_OFFER_A else 0.0, source)
