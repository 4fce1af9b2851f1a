"""The store's tables and how a database written by an older chargerd is brought up to date.

The schema has a version, kept in the `meta` table (`schema_version`). `STEPS[n - 1]` brings a
database from version n - 1 to n; `migrate` runs the missing steps in order at open, each with
its version bump in one SQLite transaction, so a power cut mid-upgrade leaves the database at
the last finished step and the next start carries on from there. A database of a version
newer than this code knows is refused: this code would misread it (`SchemaTooNew`).

Databases from before the version was recorded have none: they run every step, which is why
each step is written to be harmless on a database that already has what it adds.
Adding a step: append it to STEPS, never change or reorder one that was released.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

VERSION_KEY = "schema_version"

FIRST_RELEASE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,      -- an OCPP configuration key / device-model variable
    value TEXT NOT NULL,       -- JSON
    seeded TEXT                -- the YAML value it was last seeded from (JSON)
);
CREATE TABLE IF NOT EXISTS auth_cache (
    id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expires_at REAL, parent_id TEXT
);
CREATE TABLE IF NOT EXISTS availability (connector INTEGER PRIMARY KEY, operative INTEGER);
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,           -- the station's own id
    connector INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start_wh INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_meter_wh INTEGER NOT NULL,
    remote_start_id INTEGER,
    csms_id TEXT,                  -- the id the CSMS assigned (OCPP 1.6), once known
    ended INTEGER NOT NULL DEFAULT 0,
    seq_no INTEGER NOT NULL DEFAULT 0,   -- next message sequence number (OCPP 2.0.1)
    samples TEXT NOT NULL DEFAULT '[]'   -- meter values kept for the stop message
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,         -- JSON; the transaction id is filled in when sent
    tx_id TEXT,                    -- the transaction the message belongs to
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
"""


class SchemaTooNew(Exception):
    """The database was written by a newer chargerd than this one."""


def _add_column(table: str, column: str, definition: str) -> Callable[[sqlite3.Connection], None]:
    def step(db: sqlite3.Connection) -> None:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    step.__doc__ = f"{table}.{column}"
    return step


def _first_release(db: sqlite3.Connection) -> None:
    # not executescript: it would commit, and the step must commit with its version bump
    statement = ""
    for line in FIRST_RELEASE.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def _outbox_by_tx(db: sqlite3.Connection) -> None:
    db.execute("CREATE INDEX IF NOT EXISTS outbox_by_tx ON outbox (tx_id, seq)")


def _reservations(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS reservations (
            id INTEGER PRIMARY KEY,    -- the CSMS's reservation id
            id_tag TEXT NOT NULL,
            expires_at REAL NOT NULL,  -- epoch seconds
            connector INTEGER,         -- NULL: any connector that fits
            parent_id TEXT,            -- 1.6 parentIdTag, 2.0.1 groupIdToken
            fits TEXT                  -- JSON list of connectors (NULL: all)
        )"""
    )


STEPS: list[Callable[[sqlite3.Connection], None]] = [
    _first_release,  # 1
    # 2: a meter sample may be thinned out when the queue is full
    _add_column("outbox", "sample", "INTEGER NOT NULL DEFAULT 0"),
    _outbox_by_tx,  # 3: a transaction's queued messages, for combining and thinning
    # 4: the starting tag's parent (its group), once known
    _add_column("transactions", "parent_id", "TEXT"),
    _reservations,  # 5: reservations survive a restart
]
VERSION = len(STEPS)


def version_of(db: sqlite3.Connection) -> int:
    """The schema version recorded in `db` (0: a new database, or one from before versions)."""
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key=?", (VERSION_KEY,)).fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, path: Path) -> list[int]:
    """Bring `db` to VERSION; the steps that ran. SchemaTooNew if it is ahead of this code."""
    found = version_of(db)
    if found > VERSION:
        raise SchemaTooNew(
            f"{path}: this database was written by a newer chargerd (schema version {found}; "
            f"this chargerd knows up to {VERSION}); restore a backup made with this version "
            "or upgrade chargerd (docs/OPERATIONS.md)"
        )
    ran = []
    for number in range(found + 1, VERSION + 1):
        with db:  # the step and its version bump commit together, or neither does
            db.execute("BEGIN IMMEDIATE")
            STEPS[number - 1](db)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (VERSION_KEY, str(number))
            )
        ran.append(number)
    return ran
