"""The outbox's table in the store: what waits for the CSMS, in order, bounded on disk.

A part of `Store` (a mixin over its SQLite connection): queueing and reading messages,
folding queued samples into one (`merge`), confirmations with the durability their kind
needs (`delivered`, `sync`; the store's module docstring says which and why), and the
bound (`max_queue_bytes`) that thins intermediate samples when the queue is full.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("chargerd.store")

ROW_OVERHEAD = 64  # bytes an outbox row costs beside its payload (ids, times, index)
THINNED_KEY = "outbox_thinned"
CONFIRMED_BATCH = 64  # confirmed re-sendable messages deleted in one commit during a replay
READ_AHEAD = 64  # queued messages read in one query during a replay
ENQUEUE = "INSERT INTO outbox (action, payload, tx_id, created_at, sample) VALUES (?, ?, ?, ?, ?)"
MESSAGE_COLUMNS = "seq, action, payload, tx_id, attempts, not_before, created_at"
# Every second intermediate sample of each transaction (never its first or last queued one,
# never the head, which may be on the wire), oldest first.
THIN_CANDIDATES = """
SELECT seq, size FROM (
    SELECT seq, LENGTH(payload) AS size,
           ROW_NUMBER() OVER (PARTITION BY tx_id ORDER BY seq) AS n,
           COUNT(*) OVER (PARTITION BY tx_id) AS total
    FROM outbox WHERE sample=1 AND seq > (SELECT MIN(seq) FROM outbox)
) WHERE n % 2 = 0 AND n < total ORDER BY seq
"""


@dataclass
class OutboxMessage:
    seq: int
    action: str
    payload: dict[str, Any]
    tx_id: str | None
    attempts: int
    not_before: float
    created_at: float


class OutboxTable:
    # what the store provides
    db: sqlite3.Connection
    path: Path
    max_queue_bytes: int | None
    outbox_bytes: int
    _full_logged: bool
    _confirmed: list[int]
    _finished: list[str]
    _unsynced: bool
    _wal: int | None
    _syncing: Future[None] | None
    _ahead: deque[tuple[Any, ...]]
    _drained: bool
    _transaction: Callable[..., AbstractContextManager[None]]
    _write: Callable[..., None]
    get_meta: Callable[[str], str | None]

    def enqueue(self, action: str, payload: dict, tx_id: str | None, now: float) -> None:
        self._write([self._enqueue_sql(action, payload, tx_id, now)])

    @staticmethod
    def _enqueue_sql(action: str, payload: dict, tx_id: str | None, now: float, sample=False):
        return (ENQUEUE, (action, json.dumps(payload), tx_id, now, int(sample)))

    def outbox_head(self) -> OutboxMessage | None:
        """The next message to send: the oldest one not confirmed yet."""
        while self._ahead and self._ahead[0][0] in self._confirmed:
            self._ahead.popleft()
        if not self._ahead and not self._drained:
            # not "after the last confirmed": a combined message skips other transactions'
            confirmed = self._confirmed
            rows = self.db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM outbox WHERE seq NOT IN"
                f" ({','.join('?' * len(confirmed))}) ORDER BY seq LIMIT ?",
                (*confirmed, READ_AHEAD),
            )
            self._ahead.extend(rows)
            # nothing queued: no query per message sent until something is (`_write`)
            self._drained = not self._ahead
        return _message(self._ahead[0]) if self._ahead else None

    def outbox_followers(self, head: OutboxMessage, limit: int) -> list[OutboxMessage]:
        """The messages of `head`'s transaction queued after it, in order, at most `limit`."""
        rows = self.db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM outbox WHERE tx_id=? AND seq>? ORDER BY seq LIMIT ?",
            (head.tx_id, head.seq, limit),
        )
        return [_message(row) for row in rows]

    def merge(
        self, head: OutboxMessage, payload: dict, folded: list[int],
        also: Callable[[], None] | None = None,
    ) -> OutboxMessage:  # fmt: skip
        """`head` becomes one message with `payload`, replacing itself and the `folded` ones,
        on disk before it is sent (sent and then undone by a power cut, the messages would
        come back apart and part of them be sent twice). `also` runs in the same
        transaction (renumbering what follows)."""
        text = json.dumps(payload)
        self._ahead.clear()
        with self._transaction(durable=True):
            (old,) = self.db.execute(
                "SELECT LENGTH(payload) FROM outbox WHERE seq=?", (head.seq,)
            ).fetchone()
            self.db.execute("UPDATE outbox SET payload=? WHERE seq=?", (text, head.seq))
            rows = self.db.execute(
                f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(folded))})"
                " RETURNING LENGTH(payload)",
                folded,
            )
            self.outbox_bytes += len(text) - old - sum(n + ROW_OVERHEAD for (n,) in rows)
            if also is not None:
                also()
        return replace(head, payload=payload)

    def outbox_depth(self, action: str | None = None) -> int:
        """Messages waiting (of one `action` if given)."""
        self.flush_confirmed()
        if action is None:
            return self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        sql = "SELECT COUNT(*) FROM outbox WHERE action=?"
        return self.db.execute(sql, (action,)).fetchone()[0]

    def outbox_depth_for(self, tx_id: str) -> int:
        self.flush_confirmed()
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE tx_id=?", (tx_id,)).fetchone()[0]

    def drop(self, seq: int) -> None:
        """Remove one queued message (never the head): a feature block's bounded share of
        the queue making room, e.g. the oldest waiting security event."""
        self._ahead.clear()
        sql = "DELETE FROM outbox WHERE seq=? RETURNING LENGTH(payload)"
        for (size,) in self.db.execute(sql, (seq,)).fetchall():
            self.outbox_bytes -= size + ROW_OVERHEAD

    def retry_later(self, seq: int, attempts: int, not_before: float) -> None:
        self._ahead.clear()
        sql = "UPDATE outbox SET attempts=?, not_before=? WHERE seq=?"
        self._write([(sql, (attempts, not_before, seq))])

    def delivered(
        self, message: OutboxMessage, csms_id: str | None = None, last: bool = False,
        durable: bool = True,
    ) -> None:  # fmt: skip
        """The CSMS confirmed `message`: drop it; record the transaction id it assigned;
        forget the transaction after its last message.

        `durable`: on disk by the next `sync()`, which the outbox calls as soon as the next
        CALL has left (the disk works while the CSMS does), or when it goes idle. Not
        `durable`: only for a message the CSMS recognises when it comes again (module doc)."""
        if not durable and csms_id is None:
            self._confirmed.append(message.seq)
            if last and message.tx_id is not None:
                self._finished.append(message.tx_id)
            if len(self._confirmed) >= CONFIRMED_BATCH:
                self.flush_confirmed()
            return
        self._confirmed.append(message.seq)
        with self._transaction(durable=False):  # deletes it with the others confirmed
            if csms_id is not None and message.tx_id is not None:
                self.db.execute(
                    "UPDATE transactions SET csms_id=? WHERE id=?", (csms_id, message.tx_id)
                )
            if last and message.tx_id is not None:
                self.db.execute("DELETE FROM transactions WHERE id=? AND ended=1", (message.tx_id,))
        self._unsynced = self._unsynced or durable

    def sync(self) -> None:
        """Put every commit so far on disk, if a durable one is still waiting: one fsync of
        the write-ahead log, which is what a `synchronous=FULL` commit does after writing."""
        self._wait_for_sync()
        if self._unsynced:
            os.fsync(self._wal_fd())
            self._unsynced = False

    def sync_soon(self) -> None:
        """`sync()` on a worker thread: the outbox calls it once its next CALL has left, and
        reads the CSMS's answer while the disk works. On the loop, the fsync (0.2 ms on a
        quiet disk, 4-5 ms on a busy one) held back the answer that came in meanwhile. It
        starts at the same moment as a `sync()` would, so a power cut finds the same
        commits on disk; `sync()` and the next `sync_soon()` wait for it to end."""
        self._wait_for_sync()
        if self._unsynced:
            self._unsynced = False  # the fsync covers every commit made before it starts
            self._syncing = _syncer().submit(os.fsync, self._wal_fd())

    def _wait_for_sync(self) -> None:
        if self._syncing is not None:
            syncing, self._syncing = self._syncing, None
            syncing.result()  # an fsync error surfaces here, as it would from sync()

    def _wal_fd(self) -> int:
        if self._wal is None:
            self._wal = os.open(f"{self.path}-wal", os.O_RDONLY)  # SQLite's WAL file name
        return self._wal

    def flush_confirmed(self) -> None:
        """Delete the confirmed messages still in the queue (not durably: see the module)."""
        if self._confirmed:
            with self._transaction(durable=False):
                pass  # the transaction deletes them first

    def _delete_confirmed(self) -> None:
        seqs, self._confirmed = self._confirmed, []
        gone = set(seqs)
        ahead = self._ahead
        while ahead and ahead[0][0] in gone:  # the usual case: the heads just confirmed
            ahead.popleft()
        if ahead and max(seqs) > ahead[0][0]:  # a combined message skipped other rows
            self._ahead = deque(row for row in ahead if row[0] not in gone)
        finished, self._finished = self._finished, []
        for tx_id in finished:
            self.db.execute("DELETE FROM transactions WHERE id=? AND ended=1", (tx_id,))
        rows = self.db.execute(
            f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(seqs))})"
            " RETURNING LENGTH(payload)",
            seqs,
        )
        self.outbox_bytes -= sum(size + ROW_OVERHEAD for (size,) in rows)

    # --- the bound on the outbox ----------------------------------------------------------------

    @property
    def outbox_thinned(self) -> int:
        """Meter samples dropped so far because the outbox was full."""
        return int(self.get_meta(THINNED_KEY) or 0)

    def _thin(self, needed: int) -> int:
        """Drop queued meter samples until `needed` bytes are free; return the bytes freed.

        Each pass drops every second intermediate sample of each transaction, oldest first,
        so old data loses resolution before new data does. The first and last queued sample
        of a transaction, the message being sent (the head), and every message that is not a
        sample (StartTransaction, StopTransaction, 2.0.1 Started/Ended) always stay."""
        self._ahead.clear()
        freed = dropped = 0
        while freed < needed:
            victims = self.db.execute(THIN_CANDIDATES).fetchall()
            if not victims:
                break
            for seq, size in victims:
                self.db.execute("DELETE FROM outbox WHERE seq=?", (seq,))
                freed += size + ROW_OVERHEAD
                dropped += 1
                if freed >= needed:
                    break
        if dropped:
            self.db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                " SET value=CAST(value AS INTEGER) + excluded.value",
                (THINNED_KEY, str(dropped)),
            )
        if not self._full_logged:
            self._full_logged = True
            log.warning(
                "the outbox reached storage.max_queue_mb (%.1f MB): thinning out queued meter"
                " samples, oldest first (%d dropped now; counted in chargerctl status)",
                (self.max_queue_bytes or 0) / 1e6, dropped,
            )  # fmt: skip
        return freed


_fsync_thread: ThreadPoolExecutor | None = None


def _syncer() -> ThreadPoolExecutor:
    global _fsync_thread
    if _fsync_thread is None:
        _fsync_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chargerd-fsync")
    return _fsync_thread


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    return OutboxMessage(row[0], row[1], json.loads(row[2]), *row[3:])
