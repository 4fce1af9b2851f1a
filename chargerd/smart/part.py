"""The daemon's smart-charging part: the engine's limits reach the hardware.

It holds the engine (chargerd/smart/engine.py) with the profiles and external limits kept
in storage, feeds it the running sessions (from the core's connectors and meter readings)
and the grid meter, and sets each connector's limit in the core (`Station.set_limit`),
whose offer then reaches the controller at once. Limits are recomputed

- when a profile is installed or cleared, or an external limit set or cleared;
- when a session starts or ends (inside the same settle, before the next input);
- every second, after the meters were read (a site limit follows the measured draw);
- at the engine's next period boundary (a timer, not the next meter tick), which includes
  the end of the 5 s a lowered EV has to follow before its freed current goes elsewhere;
- when a connector whose lowered offer its EV has yet to follow is read: the freed current
  moves on as soon as the meter shows the EV followed.

Nothing here depends on the link: profiles keep applying while offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hal.interfaces import DeviceError

from ..core.connector import MIN_OFFER_A, Status
from ..core.model import Decision, TransactionEnded, TransactionStarted
from .composite import amps as in_amps
from .engine import SmartCharging
from .profiles import ChargingProfile, ConnectorFacts, Limit, Purpose, Session, SiteLimit
from .store import SmartStore

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger("chargerd.smart")

READ_EVERY_S = 1.0  # the grid meter and the sessions' draw, as often as the daemon reads meters
NOMINAL_V = 230.0  # phase to neutral, when the configuration gives no other


class SmartPart:
    """The "smart" part (chargerd/parts.py) of one daemon run."""

    name = "smart"

    def __init__(self, daemon: Daemon, grid_meter: Any = None):
        self.daemon = daemon
        self.store = SmartStore(daemon.store.db)
        config = daemon.config
        site = getattr(config, "site", None)
        voltage = float(getattr(site, "voltage_v", None) or NOMINAL_V)
        facts = [
            ConnectorFacts(c.id, c.max_current_a, c.phases, voltage) for c in config.connectors
        ]
        self.site = (
            SiteLimit(site.max_current_a, site.margin_a, site.fallback_current_a)
            if site is not None and site.max_current_a is not None
            else None
        )
        self.engine = SmartCharging(facts, self.site, self.store.profiles())
        for connector, (amps, source) in self.store.external().items():
            self.engine.set_external(connector, amps, source)
        self.grid_meter = grid_meter  # Meter at the grid connection (site.meter), or None
        self.grid_a: float | None = None  # its last reading, per phase (the highest phase)
        self.grid_ok = True
        self.limits: dict[int, Limit] = {}  # what each connector was last given
        # connector -> A: a remote start's TxProfile, before its transaction exists (hold)
        self.holds: dict[int, float] = {}
        # SC-B's OCPP messages report these (ChargingRateChanged, NotifyChargingLimit, ...)
        self.on_limit_changed: list[Callable[[int, Limit, Limit | None], None]] = []
        self.external_changed: list[Callable[[int, float | None, str], None]] = []
        self._read_at: dict[int, float] = {}  # when each connector's meter was last read
        self._wake = asyncio.Event()
        self._failing: str | None = None  # the error apply() last failed with

    # --- for the OCPP messages and chargerctl -------------------------------------------------

    def install(self, profile: ChargingProfile, now: float) -> None:
        """A validated profile: on disk (with the ones it replaces gone) before it applies,
        then applied at once."""
        replaced = self.engine.install(profile, now, self.transactions())
        # as installed: a TxProfile without transactionId is bound to the running one
        installed = self.engine.profiles(ids=[profile.id])
        self.store.replace_profiles(replaced, installed)
        self._wake.set()

    def clear(self, **criteria: Any) -> list[ChargingProfile]:
        """Remove the profiles matching `criteria` (SmartCharging.clear); the ones removed."""
        removed = self.engine.clear(**criteria)
        if removed:
            self.store.replace_profiles(removed, [])
            self._wake.set()
        return removed

    def set_external(self, connector: int, amps: float, source: str) -> None:
        """An external limit (EMS, SO, Other) on `connector` (0: the station); persisted."""
        self.store.set_external(connector, amps, source)
        self.engine.set_external(connector, amps, source)
        for hook in self.external_changed:
            hook(connector, amps, source)
        self._wake.set()

    def clear_external(self, connector: int | None) -> list[int]:
        """Remove the external limit of `connector` (None: all); the connectors cleared."""
        self.store.clear_external(connector)
        gone = self.engine.clear_external(connector)
        for profile in gone:
            for hook in self.external_changed:
                hook(profile.connector, None, profile.source)
        self._wake.set()
        return [profile.connector for profile in gone]

    def transactions(self) -> dict[int, str]:
        """Connector → the station's id of the transaction running there."""
        return {tx.connector: tx.id for tx in self.daemon.station.transactions()}

    def sessions(self, now: float) -> dict[int, Session]:
        """The running transactions as the balancer needs them."""
        station = self.daemon.station
        found = {}
        for c in station.connectors.values():
            tx = c.transaction
            if tx is None:
                continue
            reading = station.readings.get(c.id)
            drawing = max(reading.current_a) if reading and reading.current_a else None
            found[c.id] = Session(
                connector=c.id,
                transaction_id=tx.id,
                started_at=tx.started_at,
                arrived_at=tx.started_at,  # sessions are served in the order they began
                drawing_a=drawing,
                ev_suspended=c.status is Status.SuspendedEV,
                drawing_at=self._read_at.get(c.id),
            )
        return found

    # --- the Part -------------------------------------------------------------------------

    def see(self, decision: Decision) -> None:
        """A session that starts or ends changes the shares at once (we are inside the
        daemon's settle: the new offers are carried out before the next input)."""
        if isinstance(decision, TransactionStarted | TransactionEnded):
            connector = decision.transaction.connector
            if isinstance(decision, TransactionEnded) or self.engine.profiles(
                connector=connector, purpose=Purpose.TX
            ):
                self.holds.pop(connector, None)  # its TxProfile is bound (or never will be)
        if isinstance(decision, TransactionEnded):
            ended = self.engine.transaction_ended(decision.transaction.id)
            if ended:
                self.store.replace_profiles(ended, [])
            self._apply_safely(decision.at)
        elif isinstance(decision, TransactionStarted):
            self._apply_safely(decision.at)
            self._wake.set()  # the shares follow its draw from now on

    def meter_read(self, connector: int, reading: Any, at: float) -> None:
        """A meter reading the daemon took (Daemon.meter_listeners): if that connector's EV
        was lowered and has yet to follow, the current it frees may be free now."""
        self._read_at[connector] = at
        if self.engine.handover.lowerings.get(connector):
            self._wake.set()

    async def run(self) -> None:
        self.daemon.meter_listeners.append(self.meter_read)
        if self.grid_meter is not None:
            await self._start_grid_meter()
        try:
            next_read = time.monotonic()
            while True:
                now = time.time()
                sessions = self.sessions(now)
                boundary = self.engine.next_change(now, sessions)
                # shares follow the grid meter and the sessions' draw; an idle station
                # without a grid meter only waits for a period boundary or a change
                polling = self.grid_meter is not None or bool(sessions)
                wait = next_read - time.monotonic() if polling else None
                if boundary is not None:
                    wait = boundary - now if wait is None else min(wait, boundary - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait and max(wait, 0.0))
                self._wake.clear()
                if time.monotonic() >= next_read:
                    next_read = time.monotonic() + READ_EVERY_S
                    await self._read_grid_meter()
                await self.daemon.feed(self._apply_safely)
        finally:
            if self.grid_meter is not None:
                await self.grid_meter.stop()

    def status(self, into: dict[str, Any]) -> None:
        for entry in into["connectors"]:
            c = self.daemon.station.connectors[entry["id"]]
            limit = self.limits.get(c.id, Limit(c.max_current_a, c.max_current_a, "connector"))
            entry["limit_a"] = limit.limit_a
            entry["limit_source"] = limit.source
        external = self.engine.external
        handover = self.engine.handover
        now = time.time()
        into["smart"] = {
            "profiles": len(self.engine.profiles()),
            # lowered offers whose EVs have yet to follow: their freed current waits
            "following": {
                str(c): {"held_a": handover.held_a(c), "s_left": round(max(0.0, end - now), 1)}
                for c, end in handover.waiting().items()
            },
            "external": {str(n): {"limit_a": a, "source": s} for n, (a, s) in external.items()},
            "site": None
            if self.site is None
            else {
                "max_current_a": self.site.max_current_a,
                "grid_a": self.grid_a if self.grid_meter is not None else None,
                "grid_meter_ok": self.grid_ok if self.grid_meter is not None else None,
            },
        }

    # --- applying -------------------------------------------------------------------------

    def _apply_safely(self, now: float) -> None:
        """`apply`, but a fault of ours must not stop the sessions or the daemon: the last
        limits stay and the next second tries again."""
        try:
            self.apply(now)
            self._failing = None
        except Exception as exc:
            if repr(exc) != self._failing:  # once, not every second
                log.exception("smart charging: limits not recomputed (the last ones stay)")
            self._failing = repr(exc)

    def hold(self, connector: int, profile: ChargingProfile | None, now: float) -> None:
        """A remote start's TxProfile bounds its connector from the moment the start is
        accepted: the station may offer current (the EV is plugged, the start authorizes)
        before the transaction exists that the profile is bound to. None: let go."""
        if profile is None:
            self.holds.pop(connector, None)
        else:
            first = profile.schedule.periods[0]
            facts = self.engine.connectors[connector]
            unit, phases = profile.schedule.unit, first.number_phases
            self.holds[connector] = in_amps(first.limit, unit, phases, facts)
        self._apply_safely(now)

    def apply(self, now: float) -> None:
        """Give every connector its limit now (call inside Daemon.feed or a settle)."""
        expired = self.engine.expire(now)
        if expired:
            self.store.replace_profiles(expired, [])
        sessions = self.sessions(now)
        grid_a = self.grid_a if self.grid_meter is not None else None
        limits = self.engine.limits(now, sessions, grid_a, self.grid_ok)
        for n, held_a in self.holds.items():
            if n in limits and limits[n].limit_a > held_a:
                limits[n] = Limit(held_a, held_a if held_a >= MIN_OFFER_A else 0.0, "csms")
        changed = [(n, limit, self.limits.get(n)) for n, limit in limits.items()
                   if self.limits.get(n) != limit]  # fmt: skip
        # lower offers first, raise after: the sum never passes the site's budget
        changed.sort(key=lambda item: item[1].offered_a - (item[2].offered_a if item[2] else 0))
        for connector, limit, old in changed:
            self.limits[connector] = limit
            self.daemon.station.set_limit(connector, limit.limit_a, limit.source, now)
            if old is None or old.offered_a != limit.offered_a or old.limit_a != limit.limit_a:
                log.info("connector %d: limit %.1f A (%s), offered %.1f A",
                         connector, limit.limit_a, limit.source, limit.offered_a)  # fmt: skip
            for hook in self.on_limit_changed:
                hook(connector, limit, old)

    async def _start_grid_meter(self) -> None:
        try:
            await self.grid_meter.start(lambda event: None)
        except (DeviceError, OSError) as exc:
            log.error("site meter: cannot start: %s (site.fallback_current_a applies)", exc)
            self.grid_ok = False

    async def _read_grid_meter(self) -> None:
        if self.grid_meter is None:
            return
        try:
            reading = await self.grid_meter.read()
        except DeviceError as exc:
            if self.grid_ok:
                log.error("site meter: %s; site.fallback_current_a applies until it answers", exc)
            self.grid_ok = False
            return
        if not self.grid_ok:
            log.info("site meter answers again")
        self.grid_ok = True
        self.grid_a = max(reading.current_a) if reading.current_a else 0.0
