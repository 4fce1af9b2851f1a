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

`limits` (what the pilots offer now) reaches those shares through `balancer.Handover`:
current freed by a lowering is given to others once its EV followed, or after 5 s
(`next_change` includes that instant). `composite` shows the shares themselves: a
schedule looks past a handover of a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from . import balancer
from .composite import changes, csms_limit, least, winner
from .installed import InstalledProfiles
from .profiles import (
    MIN_OFFER_A,
    ChargingProfile,
    ConnectorFacts,
    Kind,
    Limit,
    LimitPeriod,
    Purpose,
    Session,
    SiteLimit,
)

HORIZON_S = 8 * 86_400  # next_change looks this far (a weekly recurrence and a day)
_TIE_A = 0.01  # shares are rounded down to 10 mA


class SmartCharging(InstalledProfiles):
    """Profiles and external limits in (`InstalledProfiles`), limits and schedules out."""

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
        super().__init__(self.connectors, profiles, max_stack_level, max_periods, max_profiles)
        self.site = site
        self._paused: set[int] = set()  # sessions the balancer gave nothing last time
        self._offered: dict[int, float] = {}
        self.handover = balancer.Handover()  # the offers now, and current not yet free
        self._grid: tuple[float | None, bool] = (None, True)

    def limits(
        self, now: float, sessions: dict[int, Session], grid_a: float | None, grid_ok: bool = True
    ) -> dict[int, Limit]:
        """Each connector's limit now. `grid_a`: the grid meter's reading (None: no meter);
        `grid_ok` False: the meter failed, the fallback current applies."""
        self._grid = (grid_a, grid_ok)
        found, _, self._paused = self._evaluate(now, sessions, now, self.handover)
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
        """The next instant after `now` at which the limits may change by time alone: a
        profile's boundary, or the end of the 5 s a lowered EV has to follow."""
        later = [t for t in self._changes(now, now + HORIZON_S, sessions, None) if t > now]
        release = self.handover.next_release()
        if release is not None and release > now:
            later.append(release)
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
        self, t: float, sessions: dict[int, Session], default: float,
        handover: balancer.Handover | None = None,
    ) -> tuple[dict[int, Limit], tuple[float, str], set[int]]:  # fmt: skip
        """Every connector's limit at `t`, the grid connection's (limit, source), and the
        sessions the balancer pauses. With `handover` (the limits now, not a schedule) the
        sessions get their shares as the handover allows."""
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
        drawing = {  # a suspended EV (pilot state B, reported at once) draws nothing now
            c: balancer.Draw(0.0, t) if s.ev_suspended
            else balancer.Draw(s.drawing_a, t if s.drawing_at is None else s.drawing_at)
            for c, s in charging.items()
        }  # fmt: skip
        order = sorted(charging, key=lambda c: (charging[c].arrived_at, c))
        if not shared:
            for c, (cap, source) in caps.items():
                found[c] = _limit(cap, source)
            if handover is not None:  # nothing to share: only remember what is offered
                offered = {c: found[c].offered_a for c in charging}
                handover.pace(t, math.inf, offered, drawing, order)
            return found, station, set()
        budget_a, budget_source = _least(*shared)
        # a draw measured before the offer last rose does not say the EV takes less than
        # offered (reclaiming on it would lower an EV that was just raised)
        fresh = {c: self.handover.measured(c, drawing[c]) for c in charging}
        demands = [
            balancer.Demand(
                c, s.arrived_at, caps[c][0],
                balancer.want(caps[c][0], self._offered.get(c), fresh[c], s.ev_suspended),
                c in self._paused,
            )
            for c, s in charging.items()
        ]  # fmt: skip
        if self.site is not None and not grid_ok:
            demands = balancer.fallback_caps(self.site, demands)
        shares = balancer.share(budget_a, demands)
        paused = {c for c in charging if shares[c] == 0 and caps[c][0] >= MIN_OFFER_A}
        if handover is None:
            left = max(0.0, budget_a - sum(shares.values()))
        else:
            shares = handover.pace(t, budget_a, shares, drawing, order)
            # an EV plugging in on an idle connector takes its offer at once: only free current
            left = max(0.0, budget_a - handover.in_use_a())
        for c, (cap, source) in caps.items():
            given = shares.get(c, min(cap, left))
            # below 6 A of its own it pauses whatever its share: its own limit says why
            own = given >= cap - _TIE_A or cap < MIN_OFFER_A
            found[c] = _limit(cap, source) if own else _limit(given, budget_source)
        return found, station, paused


def _least(*candidates: tuple[float | None, str]) -> tuple[float, str]:
    """The smallest present limit and its source (the first one given on a tie)."""
    present = [(a, source) for a, source in candidates if a is not None]
    best = present[0]
    for a, source in present[1:]:
        if a < best[0]:
            best = (a, source)
    return best


def _limit(limit_a: float, source: str) -> Limit:
    limit_a = max(0.0, round(limit_a, 6))
    return Limit(limit_a, limit_a if limit_a >= MIN_OFFER_A else 0.0, source)
