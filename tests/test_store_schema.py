"""The store's schema version: old databases are migrated at open, newer ones refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chargerd.store import Store
from chargerd.store_schema import VERSION, SchemaTooNew

# The tables as the first release wrote them (no version, no outbox.sample, no
# transactions.parent_id, no outbox_by_tx index), with what a station left in them.
FIRST_RELEASE_DB = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, seeded TEXT);
CREATE TABLE auth_cache (
    id_tag TEXT PRIMARY KEY, status TEXT NOT NULL, expires_at REAL, parent_id TEXT);
CREATE TABLE availability (connector INTEGER PRIMARY KEY, operative INTEGER);
CREATE TABLE transactions (
    id TEXT PRIMARY KEY, connector INTEGER NOT NULL, id_tag TEXT NOT NULL,
    meter_start_wh INTEGER NOT NULL, started_at REAL NOT NULL, last_meter_wh INTEGER NOT NULL,
    remote_start_id INTEGER, csms_id TEXT, ended INTEGER NOT NULL DEFAULT 0,
    seq_no INTEGER NOT NULL DEFAULT 0, samples TEXT NOT NULL DEFAULT '[]');
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, payload TEXT NOT NULL,
    tx_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL);
INSERT INTO meta VALUES ('clean_shutdown', '0');
INSERT INTO settings VALUES ('HeartbeatInterval', '120', NULL);
INSERT INTO transactions (id, connector, id_tag, meter_start_wh, started_at, last_meter_wh)
    VALUES ('tx-1', 1, 'TAG1', 1000, 1700000000.0, 1500);
INSERT INTO outbox (action, payload, tx_id, created_at)
    VALUES ('StartTransaction', '{"connectorId": 1}', 'tx-1', 1700000000.0);
"""


def columns(path: Path, table: str) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    finally:
        db.close()


def test_a_new_database_is_at_the_current_schema_version(tmp_path: Path):
    store = Store(tmp_path)
    assert store.get_meta("schema_version") == str(VERSION)
    store.close()


def test_a_first_release_database_is_migrated_and_keeps_its_data(tmp_path: Path):
    db = sqlite3.connect(tmp_path / "chargerd.sqlite")
    db.executescript(FIRST_RELEASE_DB)
    db.close()

    store = Store(tmp_path)
    try:
        assert store.get_meta("schema_version") == str(VERSION)
        (tx,) = store.open_transactions()
        assert (tx.id, tx.id_tag, tx.last_meter_wh, tx.parent_id) == ("tx-1", "TAG1", 1500, None)
        head = store.outbox_head()
        assert head is not None and head.action == "StartTransaction"
        assert store.settings()["HeartbeatInterval"][0] == 120
        store.record_sample("tx-1", 1600, None, ("MeterValues", {"connectorId": 1}), 1.0)
        assert store.outbox_depth() == 2
    finally:
        store.close()
    assert "sample" in columns(tmp_path / "chargerd.sqlite", "outbox")
    assert "parent_id" in columns(tmp_path / "chargerd.sqlite", "transactions")


def test_migrations_run_once(tmp_path: Path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "chargerd.sqlite")
    db.execute("DROP INDEX outbox_by_tx")  # a step that ran again would bring it back
    db.commit()
    db.close()
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "chargerd.sqlite")
    indexes = {row[1] for row in db.execute("SELECT * FROM sqlite_master WHERE type='index'")}
    db.close()
    assert "outbox_by_tx" not in indexes


def test_a_database_of_a_newer_chargerd_is_refused_and_left_alone(tmp_path: Path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "chargerd.sqlite")
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(SchemaTooNew, match="newer chargerd.*restore a backup.*upgrade"):
        Store(tmp_path)
    db = sqlite3.connect(tmp_path / "chargerd.sqlite")
    (version,) = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    db.close()
    assert version == str(VERSION + 1)
