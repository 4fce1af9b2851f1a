"""Persistent state in one SQLite database (WAL): outbox, transactions, OCPP config, cache.

Every change that must survive a power cut is one SQLite transaction, committed with
`synchronous=FULL` before the daemon acts on it (a message is on disk before its first
send attempt; a confirmation removes it and records the CSMS's answer atomically).

Confirmations are cheaper, as the caller asks (`delivered`):
- one the CSMS would recognise if it came again (`durable=False`: OCPP 1.6 MeterValues and
  StopTransaction, every 2.0.1 TransactionEvent, which carries its seqNo) leaves the queue at
  once and the table with the next commit (at most CONFIRMED_BATCH later, or when the outbox
  goes idle), committed without waiting for the disk. A power cut may roll back the newest
  such commits — never an older or a durable one: WAL keeps commits in order and a durable
  commit syncs everything before it — and a kill -9 loses the ones not yet committed; either
  way those messages are sent again after the restart, never lost;
- one that must not be sent twice (a 1.6 StartTransaction: a second one is a second
  transaction at the CSMS) is committed at once and put on disk by `sync_soon()`, which the
  outbox calls as soon as its next CALL has left: the fsync, on a worker thread, overlaps the
  CSMS's work instead of delaying the next message. Sent again it would be only after a power
  cut within that fsync, the same window as a commit that waits for the disk before anything
  else is sent.
A commit per confirmed message, each waiting for the disk, halved the replay rate.

The outbox is bounded (`max_queue_bytes`, counted as payload bytes): when a new message would
pass the bound, intermediate meter samples are thinned out, oldest first (see `_thin`).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .core.model import AuthInfo, AuthStatus, Reservation, Transaction
from .outbox_table import (  # noqa: F401  (OutboxMessage, ROW_OVERHEAD: part of its API)
    ENQUEUE,
    ROW_OVERHEAD,
    OutboxMessage,
    OutboxTable,
)
from .store_schema import SchemaTooNew, migrate

log = logging.getLogger("chargerd.store")


class Store(OutboxTable):
    """The daemon's database. One instance per process; not shared across threads."""

    def __init__(self, directory: Path, max_queue_bytes: int | None = None):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "chargerd.sqlite"
        existed = self.path.exists()
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        try:
            upgraded = migrate(self.db, self.path)
        except SchemaTooNew:  # written by a newer chargerd: not ours to read or change
            self.db.close()
            raise
        if upgraded and existed:
            log.warning("%s: schema upgraded to version %d", self.path, upgraded[-1])
        self.max_queue_bytes = max_queue_bytes
        self.outbox_bytes = self.db.execute(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) + COUNT(*) * ? FROM outbox", (ROW_OVERHEAD,)
        ).fetchone()[0]
        self._full_logged = False
        # Confirmed messages the CSMS recognises when re-sent, not yet deleted: they leave
        # the queue at once and the table with the next commit.
        self._confirmed: list[int] = []
        self._finished: list[str] = []  # transactions whose last message is among them
        self._unsynced = False  # a durable confirmation is committed but not yet on disk
        self._wal: int | None = None  # the write-ahead log, for sync()
        self._syncing: Future[None] | None = None  # sync_soon()'s fsync while it runs
        # The next queued rows in order, read ahead in one query during a replay and parsed
        # one at a time; forgotten by every write that changes queued rows (a retry, a
        # merge, thinning). New rows come after them, and deleted ones are dropped.
        self._ahead: deque[tuple[Any, ...]] = deque()
        self._drained = False  # the last read found nothing queued, and nothing came since

    def close(self) -> None:
        self.flush_confirmed()
        self.sync()
        self.db.close()
        if self._wal is not None:
            os.close(self._wal)

    @contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[None]:
        """One atomic SQLite transaction; durable: on disk when the block ends."""
        if not durable:
            self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.db:  # BEGIN ... COMMIT, ROLLBACK on error
                self.db.execute("BEGIN IMMEDIATE")
                if self._confirmed:  # they ride along with whatever commits next
                    self._delete_confirmed()
                yield
        finally:
            if not durable:
                self.db.execute("PRAGMA synchronous=FULL")
        if durable:
            self._unsynced = False

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]], durable: bool = True) -> None:
        """Run statements as one atomic transaction, on disk when this returns — or, not
        `durable`, with the next durable commit or `sync()`. Queued messages count against
        `max_queue_bytes`, and the queue is thinned when they would pass it."""
        added = sum(len(args[1]) + ROW_OVERHEAD for sql, args in statements if sql is ENQUEUE)
        freed = 0
        with self._transaction(durable):
            for sql, args in statements:
                self.db.execute(sql, args)
            excess = self.outbox_bytes + added - (self.max_queue_bytes or 0)
            if added and self.max_queue_bytes and excess > 0:
                # a tenth more than needed: thinning is a pass over the whole queue
                freed = self._thin(excess + self.max_queue_bytes // 10)
        self.outbox_bytes += added - freed
        self._unsynced = self._unsynced or not durable
        if added:
            self._drained = False

    # --- meta ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))])

    # --- settings (OCPP configuration) -------------------------------------------------------

    def settings(self) -> dict[str, tuple[Any, Any]]:
        """key -> (value, seeded-from-YAML value)."""
        rows = self.db.execute("SELECT key, value, seeded FROM settings").fetchall()
        return {k: (json.loads(v), json.loads(s) if s else None) for k, v, s in rows}

    def put_setting(self, key: str, value: Any, seeded: Any = None) -> None:
        if seeded is None:
            sql = (
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value"
            )
            self._write([(sql, (key, json.dumps(value)))])
        else:
            sql = "INSERT OR REPLACE INTO settings VALUES (?, ?, ?)"
            self._write([(sql, (key, json.dumps(value), json.dumps(seeded)))])

    # --- authorization cache and availability ---------------------------------------------------

    def auth_cache(self) -> dict[str, AuthInfo]:
        rows = self.db.execute("SELECT id_tag, status, expires_at, parent_id FROM auth_cache")
        return {tag: AuthInfo(AuthStatus(st), exp, parent) for tag, st, exp, parent in rows}

    def cache_auth(self, id_tag: str | None, info: AuthInfo | None) -> None:
        if id_tag is None:
            self._write([("DELETE FROM auth_cache", ())])
            return
        # One entry changes with every answer about a tag: on disk with the next durable
        # commit or sync, not at once — its own fsync doubled the cost of each replayed
        # StartTransaction. A power cut may forget the newest answers; ClearCache is durable.
        forget = ("DELETE FROM auth_cache WHERE id_tag=? COLLATE NOCASE", (id_tag,))
        if info is None:
            self._write([forget], durable=False)
            return
        sql = "INSERT INTO auth_cache VALUES (?, ?, ?, ?)"
        entry = (sql, (id_tag, str(info.status), info.expires_at, info.parent_id))
        self._write([forget, entry], durable=False)

    def inoperative_connectors(self) -> list[int]:
        rows = self.db.execute("SELECT connector FROM availability WHERE operative=0")
        return [r[0] for r in rows]

    def set_availability(self, connector: int, operative: bool) -> None:
        sql = "INSERT OR REPLACE INTO availability VALUES (?, ?)"
        self._write([(sql, (connector, int(operative)))])

    # --- reservations (they survive a restart) -------------------------------------------------

    def reservations(self) -> list[Reservation]:
        rows = self.db.execute(
            "SELECT id, id_tag, expires_at, connector, parent_id, fits FROM reservations"
        )
        return [
            Reservation(
                rid, tag, exp, conn, parent, None if fits is None else frozenset(json.loads(fits))
            )
            for rid, tag, exp, conn, parent, fits in rows
        ]

    def save_reservation(self, r: Reservation) -> None:
        fits = None if r.fits is None else json.dumps(sorted(r.fits))
        sql = "INSERT OR REPLACE INTO reservations VALUES (?, ?, ?, ?, ?, ?)"
        self._write([(sql, (r.id, r.id_tag, r.expires_at, r.connector, r.parent_id, fits))])

    def delete_reservation(self, reservation_id: int) -> None:
        self._write([("DELETE FROM reservations WHERE id=?", (reservation_id,))])

    # --- transactions and the outbox ------------------------------------------------------------

    def start_transaction(self, tx: Transaction, message: tuple[str, dict] | None, now: float):
        """Record a new transaction and queue its first message, atomically."""
        statements = [
            (
                "INSERT INTO transactions (id, connector, id_tag, meter_start_wh, started_at,"
                " last_meter_wh, remote_start_id, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tx.id,
                    tx.connector,
                    tx.id_tag,
                    tx.meter_start_wh,
                    tx.started_at,
                    tx.last_meter_wh,
                    tx.remote_start_id,
                    tx.parent_id,
                ),
            )
        ]
        if message is not None:
            statements.append(self._enqueue_sql(message[0], message[1], tx.id, now))
        self._write(statements)

    def end_transaction(self, tx_id: str, message: tuple[str, dict] | None, now: float) -> None:
        statements = [("UPDATE transactions SET ended=1 WHERE id=?", (tx_id,))]
        if message is not None:
            statements.append(self._enqueue_sql(message[0], message[1], tx_id, now))
        self._write(statements)

    def record_sample(
        self, tx_id: str, last_meter_wh: int, sample: dict | None, message: tuple[str, dict] | None,
        now: float,
    ) -> None:  # fmt: skip
        """A meter sample of a transaction: the latest reading, kept samples, its message."""
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "UPDATE transactions SET last_meter_wh=MAX(last_meter_wh, ?) WHERE id=?",
                (last_meter_wh, tx_id),
            )
        ]
        if sample is not None:
            statements.append(
                (
                    "UPDATE transactions SET samples=json_insert(samples, '$[#]', json(?))"
                    " WHERE id=?",
                    (json.dumps(sample), tx_id),
                )
            )
        if message is not None:
            statements.append(self._enqueue_sql(message[0], message[1], tx_id, now, sample=True))
        self._write(statements)

    def transaction_samples(self, tx_id: str) -> list[dict]:
        row = self.db.execute("SELECT samples FROM transactions WHERE id=?", (tx_id,)).fetchone()
        return json.loads(row[0]) if row else []

    def open_transactions(self) -> list[Transaction]:
        """Transactions that were running when the daemon last stopped."""
        rows = self.db.execute(
            "SELECT id, connector, id_tag, meter_start_wh, started_at, last_meter_wh,"
            " remote_start_id, parent_id FROM transactions WHERE ended=0 ORDER BY started_at"
        ).fetchall()
        return [Transaction(*row[:6], remote_start_id=row[6], parent_id=row[7]) for row in rows]

    def csms_id(self, tx_id: str) -> str | None:
        row = self.db.execute("SELECT csms_id FROM transactions WHERE id=?", (tx_id,)).fetchone()
        return row[0] if row else None

    def tx_by_csms_id(self, csms_id: str) -> str | None:
        row = self.db.execute(
            "SELECT id FROM transactions WHERE csms_id=? AND ended=0", (csms_id,)
        ).fetchone()
        return row[0] if row else None

    def next_seq_no(self, tx_id: str) -> int:
        """Take the next message sequence number of a transaction (OCPP 2.0.1 seqNo)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT seq_no FROM transactions WHERE id=?", (tx_id,)).fetchone()
            self.db.execute("UPDATE transactions SET seq_no=seq_no+1 WHERE id=?", (tx_id,))
        return row[0] if row else 0
