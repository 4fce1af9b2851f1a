"""The store's transactions table: what a restart needs to know of an open transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chargerd.core.model import Transaction
from chargerd.store import Store

T0 = 1_700_000_000.0

# The transactions table as databases written before parent_id was kept have it.
OLD_TRANSACTIONS = """
CREATE TABLE transactions (
    id TEXT PRIMARY KEY, connector INTEGER NOT NULL, id_tag TEXT NOT NULL,
    meter_start_wh INTEGER NOT NULL, started_at REAL NOT NULL, last_meter_wh INTEGER NOT NULL,
    remote_start_id INTEGER, csms_id TEXT, ended INTEGER NOT NULL DEFAULT 0,
    seq_no INTEGER NOT NULL DEFAULT 0, samples TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO transactions (id, connector, id_tag, meter_start_wh, started_at, last_meter_wh)
VALUES ('old-1', 1, 'TAG1', 1000, 1700000000.0, 1200);
"""


def test_the_starting_tags_parent_survives_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    tx = Transaction("tx-1", 2, "TAG1", 1000, T0, 1000, remote_start_id=7, parent_id="FLEET")
    store.start_transaction(tx, ("StartTransaction", {"idTag": "TAG1"}), T0)
    store.close()

    (restored,) = Store(tmp_path).open_transactions()
    assert (restored.id, restored.connector, restored.parent_id) == ("tx-1", 2, "FLEET")
    assert restored.remote_start_id == 7


def test_a_database_from_before_parent_ids_is_upgraded_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "chargerd.sqlite")
    db.executescript(OLD_TRANSACTIONS)
    db.close()

    store = Store(tmp_path)
    (old,) = store.open_transactions()
    assert (old.id, old.last_meter_wh, old.parent_id) == ("old-1", 1200, None)
    store.start_transaction(Transaction("tx-2", 2, "TAG2", 0, T0, 0, parent_id="G"), None, T0)
    assert [t.parent_id for t in store.open_transactions()] == [None, "G"]
