"""Connectors held Unavailable while an installation waits or runs.

The connectors not in use go Unavailable at once, the others after their session (the core
schedules it). Which ones were taken is written down (synchronous FULL) before they are
taken; the station core persists availability as usual, so at the next start — before the
Station reads availability from the store — the ones written down are made operative again
there: the temporary Unavailable never outlives a run, whatever ended it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("chargerd.updates")

SCHEMA = "CREATE TABLE IF NOT EXISTS firmware_held (connector INTEGER PRIMARY KEY)"


class ConnectorHold:
    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.db = daemon.store.db
        self.db.execute(SCHEMA)

    def held(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT connector FROM firmware_held")]

    def _write(self, connectors: list[int]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM firmware_held")
            self.db.executemany("INSERT INTO firmware_held VALUES (?)", [(c,) for c in connectors])

    def give_back_at_start(self) -> None:
        """Before the Station is made: the last run's held connectors are operative again."""
        held = self.held()
        if not held:
            return
        for connector in held:
            self.daemon.store.set_availability(connector, True)
        self._write([])
        log.info("connectors %s given back after the firmware update", held)

    def busy(self) -> bool:
        """A transaction runs on some connector."""
        station = getattr(self.daemon, "station", None)
        return station is not None and any(
            c.transaction is not None for c in station.connectors.values()
        )

    async def hold(self) -> None:
        station = self.daemon.station
        taken = [c.id for c in station.connectors.values()
                 if c.operative and c.scheduled_operative is not False]  # fmt: skip
        self._write(taken)
        for connector in taken:
            await self.daemon.feed(
                lambda now, c=connector: station.change_availability(c, False, now)
            )
        log.info("connectors %s held Unavailable for the firmware installation", taken)

    async def release(self) -> None:
        """The installation will not happen (failed, cancelled): the old availability."""
        station = self.daemon.station
        for connector in self.held():
            await self.daemon.feed(
                lambda now, c=connector: station.change_availability(c, True, now)
            )
        self._write([])
