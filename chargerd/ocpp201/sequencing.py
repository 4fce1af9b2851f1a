"""TransactionEvent seqNo: gap-free, never repeated, across kill -9.

The store keeps each transaction's next seqNo (`transactions.seq_no`, taken with
`Store.next_seq_no`). An event is numbered with the value it will take (`peek`), written to
the outbox, and only then is the number taken (`commit`): a power cut between the two
leaves the number untaken although the event is queued, which `repair` (run at start-up,
before anything new is numbered) sees in the outbox and takes. The other order would leave
a number taken by an event that never was written: a gap the CSMS can never fill.

The Started event is queued with the transaction row by `Store.start_transaction`
(seq_no 0) and takes number 0.

A backlog of periodic meter values goes as few events as the spec allows (`combining`):
queued Updated events of one transaction with triggerReason MeterValuePeriodic, alike but
for their time, are folded into the first one, whose meterValue list carries all the
samples (each with its own timestamp), before it is first sent. The events queued after
them are renumbered in the same store transaction (`close_gap`), so the CSMS still sees
seqNo without gaps; an event that was sent once is never renumbered (only the head, never
attempted, and what follows it are).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..outbox import Combining
from ..store import OutboxMessage, Store


def _periodic_update(payload: dict[str, Any]) -> bool:
    return payload.get("eventType") == "Updated" and payload.get("triggerReason") == (
        "MeterValuePeriodic"
    )


def combining(seq: SeqNumbers, limit: Callable[[], int]) -> Combining:
    """How queued TransactionEvents are folded for a replay (module doc); at most
    `limit()` meter values per event (csms.replay_batch)."""
    return Combining(
        "TransactionEvent",
        "meterValue",
        limit,
        may_differ=("timestamp", "seqNo"),
        foldable=_periodic_update,
        renumber=seq.close_gap,
    )


class SeqNumbers:
    def __init__(self, store: Store):
        self.store = store

    def peek(self, tx_id: str) -> int:
        """The seqNo the next event of `tx_id` gets."""
        row = self.store.db.execute(
            "SELECT seq_no FROM transactions WHERE id=?", (tx_id,)
        ).fetchone()
        return row[0] if row else 0

    def commit(self, tx_id: str, used: int) -> None:
        """The event numbered `used` is in the outbox: take its number."""
        while self.store.next_seq_no(tx_id) < used:  # only after a repair gone wrong
            pass

    def close_gap(self, head: OutboxMessage, folded: int) -> None:
        """`folded` events queued after `head` were folded into it: the events of its
        transaction queued after them take the numbers that follow head's, and so does the
        next one. Runs inside the store transaction that folds them."""
        db = self.store.db
        rows = db.execute(
            "SELECT seq, payload FROM outbox WHERE tx_id=? AND action='TransactionEvent' AND seq>?",
            (head.tx_id, head.seq),
        ).fetchall()
        for seq, text in rows:
            payload = json.loads(text)
            payload["seqNo"] -= folded
            db.execute("UPDATE outbox SET payload=? WHERE seq=?", (json.dumps(payload), seq))
        db.execute("UPDATE transactions SET seq_no=seq_no-? WHERE id=?", (folded, head.tx_id))

    def repair(self) -> list[tuple[str, int]]:
        """Take the numbers of queued events whose number was not taken (a power cut came
        between queueing and taking). The (transaction, next seqNo) pairs it fixed."""
        fixed = []
        rows = self.store.db.execute("SELECT id, seq_no FROM transactions").fetchall()
        for tx_id, next_seq in rows:
            queued = [
                json.loads(payload).get("seqNo", -1)
                for (payload,) in self.store.db.execute(
                    "SELECT payload FROM outbox WHERE tx_id=? AND action='TransactionEvent'",
                    (tx_id,),
                )
            ]
            highest = max(queued, default=-1)
            if highest >= next_seq:
                while self.store.next_seq_no(tx_id) < highest:
                    pass
                fixed.append((tx_id, highest + 1))
        return fixed
