"""Simulated energy meter of one connector, fed by its SimController.

The energy register survives restarts and kill -9 like a real meter's: it lives in
SQLite (`<state_dir>/sim-meter.sqlite`, WAL) and is written about once per second
while energy flows, and on stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hal.interfaces import DeviceError, EventSink, MeterReading
from hal.sim.controller import SimController

log = logging.getLogger(__name__)

DB_NAME = "sim-meter.sqlite"
PERSIST_PERIOD_S = 1.0  # at most this much energy is lost on kill -9
FREQUENCY_HZ = 50.0


class EnergyRegisterStore:
    """The persisted energy registers: table (connector INTEGER PRIMARY KEY, energy_wh REAL).

    Writes run off the event loop (a commit fsyncs), so the connection is shared with
    worker threads under a lock. A write never lowers a stored value, whatever the order
    in which concurrent writes land.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / DB_NAME
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # timeout: the meters of other connectors write to the same file.
            db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed register survives a power cut too, not only kill -9.
            db.execute("PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS energy"
                " (connector INTEGER PRIMARY KEY, energy_wh REAL NOT NULL)"
            )
            db.commit()
            self._db = db
        return self._db

    def load(self, connector: int) -> float:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT energy_wh FROM energy WHERE connector = ?", (connector,))
                .fetchone()
            )
        return float(row[0]) if row else 0.0

    def save(self, connector: int, energy_wh: float) -> None:
        with self._lock:
            db = self._connect()
            with db:  # one transaction, committed on exit
                db.execute(
                    "INSERT INTO energy (connector, energy_wh) VALUES (?, ?)"
                    " ON CONFLICT (connector)"
                    " DO UPDATE SET energy_wh = MAX(energy_wh, excluded.energy_wh)",
                    (connector, energy_wh),
                )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class SimMeter:
    """Meter of one connector: integrates P = I × U × phases of what its controller lets flow.

    `clock` is a monotonic clock in seconds; tests inject one to advance time without
    sleeping. `meter_fail()` makes `read()` raise DeviceError until `meter_restore()`;
    energy keeps counting meanwhile, as in a meter whose bus link is cut.
    """

    def __init__(
        self,
        controller: SimController,
        state_dir: Path,
        *,
        voltage_v: float = 230.0,
        phases: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if phases not in (1, 2, 3):
            raise ValueError(f"connector {controller.connector}: phases must be 1..3, not {phases}")
        self.connector = controller.connector
        self.voltage_v = voltage_v
        self.phases = phases
        self._controller = controller
        self._clock = clock
        self._store = EnergyRegisterStore(state_dir)
        self._energy_wh = self._store.load(self.connector)
        self._persisted_wh = self._energy_wh
        self._last_t = clock()
        self._last_write_t = self._last_t
        self._dead = False
        self._write_lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        controller.add_flow_listener(self._integrate)

    @property
    def dead(self) -> bool:
        return self._dead

    @property
    def energy_wh(self) -> float:
        """The register up to now (no persisting, no failure injection)."""
        self._integrate()
        return self._energy_wh

    def meter_fail(self) -> None:
        """The meter stops answering: read() raises DeviceError."""
        self._dead = True

    def meter_restore(self) -> None:
        self._dead = False

    # --- Meter ---------------------------------------------------------------------------

    async def start(self, emit: EventSink) -> None:
        # A real meter counts whether or not anyone reads it: persist on our own too, so
        # a daemon that samples once a minute still loses at most ~1 s on kill -9.
        if self._ticker is None:
            self._ticker = asyncio.create_task(
                self._tick_forever(), name=f"sim-meter-{self.connector}"
            )

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._persist(force=True)
        await asyncio.to_thread(self._store.close)

    async def read(self) -> MeterReading:
        await self._persist(force=False)
        if self._dead:
            raise DeviceError(f"sim meter of connector {self.connector}: no answer (meter_fail)")
        amps = self._controller.current_a
        return MeterReading(
            energy_wh=self._energy_wh,
            power_w=amps * self.voltage_v * self.phases,
            voltage_v=(self.voltage_v,) * self.phases,
            current_a=(amps,) * self.phases,
            frequency_hz=FREQUENCY_HZ,
            soc_pct=self._controller.soc_pct,
        )

    # --- internals -----------------------------------------------------------------------

    def _integrate(self) -> None:
        """Add the energy since the last call, at the current that flowed all along.

        The controller calls this just before the current changes, so the current is
        constant over each interval and the sum is exact up to float rounding. Adding
        non-negative terms never lowers a float, so the register never decreases.
        """
        now = self._clock()
        dt = now - self._last_t
        if dt <= 0:
            return
        self._last_t = now
        power_w = self._controller.current_a * self.voltage_v * self.phases
        energy_wh = power_w * dt / 3600.0
        self._energy_wh += energy_wh
        self._controller.ev_charged(energy_wh)

    async def _persist(self, *, force: bool) -> None:
        self._integrate()
        async with self._write_lock:
            # Re-read after the lock: a concurrent write may have done the job already.
            energy = self._energy_wh
            due = self._clock() - self._last_write_t >= PERSIST_PERIOD_S
            if energy <= self._persisted_wh or not (force or due):
                return
            try:
                await asyncio.to_thread(self._store.save, self.connector, energy)
            except sqlite3.Error as exc:
                # The register is still counted in memory; the next write retries.
                log.error("sim meter %d: cannot persist energy: %s", self.connector, exc)
                return
            finally:
                # Also after a failure: do not hammer a broken disk on every read.
                self._last_write_t = self._clock()
            self._persisted_wh = energy

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(PERSIST_PERIOD_S)
            await self._persist(force=False)
