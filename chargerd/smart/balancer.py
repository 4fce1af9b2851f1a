"""Sharing one grid connection between the charging sessions (local load balancing).

Pure functions. The rules:
- every session gets at least 6 A (the smallest PWM offer) or nothing (paused), in order of
  arrival when the budget does not reach all: no first-come-takes-all, no session at 4 A;
- a session paused by the balancer resumes only when 6 A + 1 A are free, so that a budget
  hovering around 6 A does not switch an EV on and off (some EVs resume badly);
- above the minimum the rest is filled evenly, first up to what each EV uses (an EV drawing
  less than offered gets its draw + a headroom, see `want`), then up to each session's own
  limit, so undrawn current goes to the others but is never wasted.
- with a grid meter the budget is what the building leaves: max − (grid − chargers' own
  draw) − margin (the chargers' draw is taken out of the grid reading, or the budget would
  chase its own tail); when the meter fails, each session gets `fallback_current_a`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .profiles import MIN_OFFER_A, SiteLimit

RESUME_HYSTERESIS_A = 1.0  # a paused session needs 6 A + this to resume
HEADROOM_A = 2.0  # offered above the draw of an EV that takes less, so it can ask for more
UNDER_DRAW_A = 1.0  # drawing this much below the offer: the EV takes less than offered


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
