"""The firmware update's rows in the daemon's store: the machine's state (JSON), the statuses
not yet handed to the listeners, and the finished updates (chargerctl firmware).

State and new statuses are written in one transaction (synchronous FULL, the store's
default) after every input and before any effect starts: kill -9 or a power cut at any step
finds the update where it was, and a status is handed out at least once.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS firmware_update (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL                 -- UpdateState as JSON
);
CREATE TABLE IF NOT EXISTS firmware_reports (   -- statuses not yet handed to the listeners
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    request_id INTEGER
);
CREATE TABLE IF NOT EXISTS firmware_history (   -- finished updates, for chargerctl firmware
    finished_at REAL NOT NULL,
    request_id INTEGER,
    location TEXT NOT NULL,                     -- safe_url: no credentials
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
HISTORY_KEPT = 20
HISTORY_FIELDS = ("finished_at", "request_id", "location", "version", "status", "detail")


class Finished(NamedTuple):  # (not a dataclass: this module loads at every start)
    """An update that is over, as the history keeps it."""

    at: float
    request_id: int | None
    location: str  # without credentials (transfer.safe_url)
    version: str
    status: str  # its last status, or Cancelled
    detail: str


class Journal:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def state(self) -> str | None:
        """The stored UpdateState (JSON), None before the first update."""
        row = self.db.execute("SELECT state FROM firmware_update").fetchone()
        return row[0] if row else None

    def save(
        self, state: str, reports: list[tuple[str, int | None]], finished: Finished | None
    ) -> None:
        """The state, its new statuses (status, request id) and the update that ended with
        this input, in one transaction."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO firmware_update (id, state) VALUES (1, ?) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state",
                (state,),
            )
            self.db.executemany(
                "INSERT INTO firmware_reports (status, request_id) VALUES (?, ?)", reports
            )
            if finished is not None:
                f = finished
                self.db.execute(
                    "INSERT INTO firmware_history VALUES (?, ?, ?, ?, ?, ?)",
                    (f.at, f.request_id, f.location, f.version, f.status, f.detail),
                )
                self.db.execute(
                    "DELETE FROM firmware_history WHERE rowid NOT IN "
                    "(SELECT rowid FROM firmware_history ORDER BY rowid DESC LIMIT ?)",
                    (HISTORY_KEPT,),
                )

    def waiting(self) -> list[tuple[int, str, int | None]]:
        """The statuses not yet handed out, oldest first: (seq, status, request id)."""
        return self.db.execute(
            "SELECT seq, status, request_id FROM firmware_reports ORDER BY seq"
        ).fetchall()

    def handed_out(self, seq: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM firmware_reports WHERE seq = ?", (seq,))

    def history(self, count: int = 5) -> list[dict[str, Any]]:
        """The last `count` finished updates, newest first."""
        rows = self.db.execute(
            f"SELECT {', '.join(HISTORY_FIELDS)} FROM firmware_history ORDER BY rowid DESC LIMIT ?",
            (count,),
        ).fetchall()
        return [dict(zip(HISTORY_FIELDS, row, strict=True)) for row in rows]
