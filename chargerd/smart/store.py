"""Smart charging's persistent state: installed charging profiles and external limits.

Both live in their own tables on the daemon's Store connection (WAL, synchronous=FULL), so
a profile the CSMS got Accepted for, or a limit a technician set, is on disk before it is
applied and survives kill -9 and power cuts. Profiles are kept as JSON of the engine's
version-neutral types.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from .profiles import ChargingProfile, Kind, Period, Purpose, Schedule

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS smart_profiles (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS smart_external"
    " (connector INTEGER PRIMARY KEY, amps REAL NOT NULL, source TEXT NOT NULL)",
)


def profile_to_json(profile: ChargingProfile) -> str:
    return json.dumps(asdict(profile), sort_keys=True)


def profile_from_json(text: str) -> ChargingProfile:
    raw: dict[str, Any] = json.loads(text)
    schedule = dict(raw.pop("schedule"))
    periods = tuple(Period(**p) for p in schedule.pop("periods"))
    return ChargingProfile(
        **{
            **raw,
            "purpose": Purpose(raw["purpose"]),
            "kind": Kind(raw["kind"]),
            "schedule": Schedule(**schedule, periods=periods),
        }
    )


class SmartStore:
    """The profiles and external limits of one station, on `db` (the Store's connection)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        for statement in SCHEMA:
            db.execute(statement)

    def profiles(self) -> list[ChargingProfile]:
        rows = self.db.execute("SELECT body FROM smart_profiles ORDER BY id").fetchall()
        return [profile_from_json(body) for (body,) in rows]

    def replace_profiles(
        self, removed: list[ChargingProfile], added: list[ChargingProfile]
    ) -> None:
        """One atomic, durable change: a replaced profile never comes back after a restart."""
        self._write(
            [("DELETE FROM smart_profiles WHERE id=?", (p.id,)) for p in removed]
            + [
                ("INSERT OR REPLACE INTO smart_profiles (id, body) VALUES (?, ?)",
                 (p.id, profile_to_json(p)))
                for p in added
            ]  # fmt: skip
        )

    def external(self) -> dict[int, tuple[float, str]]:
        rows = self.db.execute("SELECT connector, amps, source FROM smart_external").fetchall()
        return {connector: (amps, source) for connector, amps, source in rows}

    def set_external(self, connector: int, amps: float, source: str) -> None:
        self._write(
            [("INSERT OR REPLACE INTO smart_external (connector, amps, source) VALUES (?, ?, ?)",
              (connector, amps, source))]
        )  # fmt: skip

    def clear_external(self, connector: int | None) -> None:
        """None: every external limit."""
        if connector is None:
            self._write([("DELETE FROM smart_external", ())])
        else:
            self._write([("DELETE FROM smart_external WHERE connector=?", (connector,))])

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self.db:  # BEGIN ... COMMIT; the connection syncs with synchronous=FULL
            self.db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self.db.execute(sql, args)
