"""Sharing one grid connection between the charging sessions (local load balancing).

Pure functions (`share`: what each session should get) and the `Handover` (when it may
get it). The rules:
- every session gets at least 6 A (the smallest PWM offer) or nothing (paused), in order of
  arrival when the budget does not reach all: no first-come-takes-all, no session at 4 A;
- a session paused by the balancer resumes only when 6 A + 1 A are free, so that a budget
  hovering around 6 A does not switch an EV on and off (some EVs resume badly);
- above the minimum the rest is filled evenly, first up to what each EV uses (an EV drawing
  less than offered gets its draw + a headroom, see `want`), then up to each session's own
  limit, so undrawn current goes to the others but is never wasted.
- with a grid meter the budget is what the building leaves: max − (grid − chargers' own
  draw) − margin (the chargers' draw is taken out of the grid reading, or the budget would
  chase its own tail); when the meter fails, each session gets `fallback_current_a`;
- current freed by lowering an offer goes to another session only once the EV it came from
  followed (IEC 61851-1 Annex A gives it up to 5 s): see `Handover`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .profiles import MIN_OFFER_A, SiteLimit

RESUME_HYSTERESIS_A = 1.0  # a paused session needs 6 A + this to resume
HEADROOM_A = 2.0  # offered above the draw of an EV that takes less, so it can ask for more
UNDER_DRAW_A = 1.0  # drawing this much below the offer: the EV takes less than offered
FOLLOW_S = 5.0  # IEC 61851-1 Annex A: an EV has up to 5 s to follow a lower offer
# a draw this little above a lowered offer counts as followed (meter and EV tolerances; the
# site's margin_a covers it)
FOLLOW_TOLERANCE_A = 0.5
SETTLE_S = 5.0  # an offer changed this recently is raised after the settled ones


@dataclass(frozen=True)
class Demand:
    """A charging session as the balancer sees it."""

    connector: int
    arrived_at: float
    cap_a: float  # its own limit: CSMS, external, connector maximum
    want_a: float  # what it would use (≤ cap): see `want`
    paused: bool = False  # the balancer gave it nothing last time


def want(
    cap_a: float, offered_a: float | None, drawing_a: float | None, ev_suspended: bool
) -> float:
    """What a session would use: its cap, or the minimum offer for a suspended EV (it may
    resume any time), or its draw + headroom when it draws clearly less than offered."""
    if ev_suspended:
        return min(cap_a, MIN_OFFER_A)
    if drawing_a is not None and offered_a and drawing_a < offered_a - UNDER_DRAW_A:
        return min(cap_a, max(MIN_OFFER_A, drawing_a + HEADROOM_A))
    return cap_a


def site_budget(site: SiteLimit, grid_a: float | None, chargers_a: float) -> float:
    """The current the sessions may share per phase. `grid_a`: the grid meter's reading (the
    whole building with the chargers), None without a meter."""
    if grid_a is None:
        return site.max_current_a
    building_a = max(0.0, grid_a - chargers_a)
    return max(0.0, site.max_current_a - building_a - site.margin_a)


def fallback_caps(site: SiteLimit, demands: list[Demand]) -> list[Demand]:
    """The grid meter failed: each session at most the fallback current."""
    return [
        Demand(
            d.connector,
            d.arrived_at,
            min(d.cap_a, site.fallback_current_a),
            min(d.want_a, site.fallback_current_a),
            d.paused,
        )
        for d in demands
    ]


def share(budget_a: float, demands: list[Demand]) -> dict[int, float]:
    """Each connector's share of `budget_a`; the shares never add up to more."""
    shares = {d.connector: 0.0 for d in demands}
    left = budget_a
    admitted = []
    for d in sorted(demands, key=lambda d: (d.arrived_at, d.connector)):
        needed = MIN_OFFER_A + (RESUME_HYSTERESIS_A if d.paused else 0.0)
        if d.cap_a >= MIN_OFFER_A and left >= needed:
            shares[d.connector] = MIN_OFFER_A
            left -= MIN_OFFER_A
            admitted.append(d)
    # First what each EV uses, then the rest up to each one's own limit.
    left = _fill(shares, left, {d.connector: max(MIN_OFFER_A, d.want_a) for d in admitted})
    _fill(shares, left, {d.connector: d.cap_a for d in admitted})
    # Rounded down to 10 mA: a float sum never exceeds the budget.
    return {c: min(a, math.floor(a * 100) / 100) for c, a in shares.items()}


def _fill(shares: dict[int, float], left: float, targets: dict[int, float]) -> float:
    """Raise the shares evenly towards their targets with what is left; returns the rest."""
    while left > 1e-9:
        rising = [c for c, target in targets.items() if shares[c] < target - 1e-9]
        if not rising:
            break
        step = min(left / len(rising), min(targets[c] - shares[c] for c in rising))
        for c in rising:
            shares[c] += step
        left -= step * len(rising)
    return max(0.0, left)


@dataclass(frozen=True)
class Lowering:
    """A connector's offer went down from `from_a` to `to_a` at `at`: until its EV follows,
    it may still draw `from_a`."""

    from_a: float
    to_a: float
    at: float

    def over(self, now: float, draw: Draw | None, raised_at: float) -> bool:
        """The EV followed (its measured draw is at or below the new offer) or had its 5 s.
        Only a draw measured after the offer last rose counts (`Draw.since`)."""
        if now >= self.at + FOLLOW_S:
            return True
        if draw is None or draw.amps is None or not draw.since(raised_at):
            return False
        return draw.amps <= self.to_a + FOLLOW_TOLERANCE_A


@dataclass(frozen=True)
class Draw:
    """A session's measured draw per phase (None: unknown) and when it was measured."""

    amps: float | None
    at: float

    def since(self, raised_at: float) -> bool:
        """Known and measured after the offer last rose (an earlier one shows what the EV
        took under a lower offer: not what it takes now, nor whether it followed since)."""
        return self.amps is not None and self.at > raised_at


@dataclass
class Handover:
    """The sessions' offers as the pilots show them, and the current freed by lowering one of
    them that is not yet anyone else's.

    `share` says what each session should get; `pace` gets there without the grid seeing the
    old and the new draw at once:
    - a lower share is offered at once (the budget may have shrunk: it cannot wait);
    - the current a lowering frees counts as still drawn by its connector until its EV
      followed (measured draw at or below the new offer) or 5 s passed, whichever is first.
      An EV that already drew less than the new offer — the draw-based reclaim, where the
      offer comes down to what the EV takes — has followed at once: its undrawn current
      moves in the same pass, so the hold and the reclaim do not fight;
    - a higher share is offered as far as free current allows (never a partial offer below
      6 A), the rest as soon as more is free. Raises wait on nothing but freed current.
    Not toggling faster than EVs follow (our decision): free current goes first to sessions
    whose offer has not changed for SETTLE_S, then to the recently changed ones (earlier
    arrivals first within each). A recently changed offer is still raised when no settled
    session can take the current: holding it back on time alone would leave current unused
    for up to 5 s, and raises wait on nothing but freed current. What made EVs stumble in
    EVerest #1068 — a pilot switched off and on within a second — is kept away by the
    resume hysteresis (RESUME_HYSTERESIS_A) and by the reclaim reading only draws measured
    after an offer last rose (`measured`): on an older reading a just-raised EV looked as if
    it took less, was cut back, and raised again a second later.
    """

    offers: dict[int, float] = field(default_factory=dict)
    changed_at: dict[int, float] = field(default_factory=dict)
    raised_at: dict[int, float] = field(default_factory=dict)
    lowerings: dict[int, list[Lowering]] = field(default_factory=dict)

    def measured(self, connector: int, draw: Draw) -> float | None:
        """The draw if it was measured after the connector's offer last rose, else None (also
        for a session not yet offered anything as one: its EV has had no offer to take)."""
        if connector not in self.offers:
            return None
        return draw.amps if draw.since(self.raised_at.get(connector, -math.inf)) else None

    def held_a(self, connector: int) -> float:
        """The most the connector's EV may still draw from offers it has not yet followed."""
        return max((low.from_a for low in self.lowerings.get(connector, ())), default=0.0)

    def in_use_a(self) -> float:
        """What the sessions may draw now: each one's offer, or more while it follows."""
        return sum(max(a, self.held_a(c)) for c, a in self.offers.items())

    def waiting(self) -> dict[int, float]:
        """Connector → when its last unfollowed lowering's 5 s end."""
        return {c: max(low.at for low in lows) + FOLLOW_S
                for c, lows in self.lowerings.items() if lows}  # fmt: skip

    def next_release(self) -> float | None:
        """When held current is freed by time alone (the earliest 5 s to end)."""
        ends = [low.at + FOLLOW_S for lows in self.lowerings.values() for low in lows]
        return min(ends, default=None)

    def pace(
        self,
        now: float,
        budget_a: float,
        shares: dict[int, float],
        drawing: dict[int, Draw],
        order: list[int],
    ) -> dict[int, float]:
        """The offers now, on the way to `shares` (one per session: connector → A), within
        `budget_a`. `drawing`: each session's measured draw; `order`: the sessions by
        arrival."""
        for gone in set(self.offers) - set(shares):  # the EV left: it draws nothing
            self._forget(gone)

        def over(c: int, low: Lowering) -> bool:
            return low.over(now, drawing.get(c), self.raised_at.get(c, -math.inf))

        for c in shares:
            self.lowerings[c] = [low for low in self.lowerings.get(c, ()) if not over(c, low)]
        offers: dict[int, float] = {}
        for c, share_a in shares.items():
            before = self.offers.get(c, 0.0)
            offers[c] = min(before, share_a)
            if share_a < before:
                low = Lowering(before, share_a, now)
                if not over(c, low):
                    self.lowerings[c].append(low)
        used = sum(max(offers[c], self.held_a(c)) for c in shares)
        free = budget_a - used

        def recent(c: int) -> bool:
            return now - self.changed_at.get(c, -math.inf) < SETTLE_S

        rising = [c for c in order if c in shares and shares[c] > offers[c]]
        for c in sorted(rising, key=recent):  # stable: arrival order within each group
            held = self.held_a(c)
            base = max(offers[c], held)
            reach = shares[c] if shares[c] <= held else min(shares[c], base + max(0.0, free))
            # down to 10 mA, but a float sum a hair short of a share still reaches it
            reach = max(offers[c], math.floor(reach * 100 + 1e-6) / 100)
            if reach < MIN_OFFER_A:
                continue  # an EV is offered 6 A or nothing
            free -= max(reach, held) - base
            offers[c] = reach
        for c, a in offers.items():
            if a != self.offers.get(c, 0.0):
                self.changed_at[c] = now
            if a > self.offers.get(c, 0.0):
                self.raised_at[c] = now
        self.offers = offers
        return dict(offers)

    def _forget(self, connector: int) -> None:
        self.offers.pop(connector, None)
        self.changed_at.pop(connector, None)
        self.raised_at.pop(connector, None)
        self.lowerings.pop(connector, None)
