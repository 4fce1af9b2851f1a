"""A backlog made offline: replayed as few MeterValues as OCPP 1.6 allows, bounded on disk.

Against the scripted CSMS on 127.0.0.1 (outbox_harness.py), with a real Store.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from outbox_harness import START, STOP, Csms, Link, make_outbox, meter_values, transaction, until

from chargerd.store import ROW_OVERHEAD, Store


def entries(call: list[Any]) -> list[str]:
    """The meter readings a MeterValues CALL carries, in order."""
    return [v["sampledValue"][0]["value"] for v in call[3]["meterValue"]]


def queue_session(store: Store, samples: int, tx_id: str = "tx-1", connector: int = 1) -> None:
    tx = transaction(tx_id)
    tx.connector = connector
    now = time.time()
    store.start_transaction(tx, ("StartTransaction", {**START, "connectorId": connector}), now)
    for n in range(samples):
        message = ("MeterValues", {**meter_values(n), "connectorId": connector})
        store.record_sample(tx_id, 1000 + n, None, message, now)
    store.end_transaction(tx_id, ("StopTransaction", STOP), now)


async def answer_start(csms: Csms, transaction_id: int = 7) -> None:
    start = await csms.recv_call("StartTransaction")
    await csms.answer(start, {"idTagInfo": {"status": "Accepted"}, "transactionId": transaction_id})


async def test_queued_samples_of_a_transaction_go_as_one_meter_values_of_at_most_the_limit(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store, combine=4)
    queue_session(store, samples=10)
    await link.open(outbox)

    await answer_start(csms)
    seen: list[str] = []
    for size in (4, 4, 2):
        call = await csms.recv_call("MeterValues")
        assert call[3]["connectorId"] == 1 and call[3]["transactionId"] == 7
        assert len(entries(call)) == size
        seen += entries(call)
        await csms.answer(call, {})
    assert seen == [str(1000 + n) for n in range(10)]  # every sample once, in order
    await csms.answer(await csms.recv_call("StopTransaction"), {})

    await until(lambda: store.outbox_depth() == 0)
    assert [action for action, _, _ in owner.delivered] == [
        "StartTransaction", "MeterValues", "MeterValues", "MeterValues", "StopTransaction",
    ]  # fmt: skip


async def test_a_limit_of_one_sends_each_sample_alone(csms: Csms, link: Link, store: Store) -> None:
    outbox, _ = make_outbox(store, combine=1)
    queue_session(store, samples=3)
    await link.open(outbox)

    await answer_start(csms)
    for n in range(3):
        call = await csms.recv_call("MeterValues")
        assert entries(call) == [str(1000 + n)]
        await csms.answer(call, {})


async def test_combining_keeps_each_transaction_apart_and_every_message_in_its_order(
    csms: Csms, link: Link, store: Store
) -> None:
    # Two connectors charging while offline: their messages interleave in the queue.
    outbox, _ = make_outbox(store, combine=100)
    now = time.time()
    for tx_id, connector in (("tx-1", 1), ("tx-2", 2)):
        tx = transaction(tx_id)
        tx.connector = connector
        store.start_transaction(tx, ("StartTransaction", {**START, "connectorId": connector}), now)
    for n in range(3):
        for tx_id, connector in (("tx-1", 1), ("tx-2", 2)):
            message = ("MeterValues", {**meter_values(n), "connectorId": connector})
            store.record_sample(tx_id, 1000 + n, None, message, now)
    store.end_transaction("tx-1", ("StopTransaction", STOP), now)
    await link.open(outbox)

    await answer_start(csms, 1)
    await answer_start(csms, 2)
    first = await csms.recv_call("MeterValues")
    assert (first[3]["connectorId"], first[3]["transactionId"]) == (1, 1)
    assert entries(first) == ["1000", "1001", "1002"]
    await csms.answer(first, {})
    second = await csms.recv_call("MeterValues")
    assert (second[3]["connectorId"], second[3]["transactionId"]) == (2, 2)
    assert entries(second) == ["1000", "1001", "1002"]
    await csms.answer(second, {})
    stop = await csms.recv_call("StopTransaction")
    assert stop[3]["transactionId"] == 1
    await csms.answer(stop, {})
    await until(lambda: store.outbox_depth() == 0)


async def test_a_refused_combined_message_is_retried_as_the_same_message(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, _ = make_outbox(store, combine=10, attempts=3, interval_s=0.05)
    queue_session(store, samples=3)
    await link.open(outbox)

    await answer_start(csms)
    refused = await csms.recv_call("MeterValues")
    await csms.refuse(refused)
    head = store.outbox_head()  # the three samples wait as the one message that was refused
    assert head is not None and len(head.payload["meterValue"]) == 3
    # a sample taken while the refused message waits does not change the retry
    store.record_sample("tx-1", 2000, None, ("MeterValues", meter_values(999)), time.time())
    again = await csms.recv_call("MeterValues")
    assert again[3] == refused[3] and entries(again) == ["1000", "1001", "1002"]
    await csms.answer(again, {})
    await csms.answer(await csms.recv_call("StopTransaction"), {})
    after_stop = await csms.recv_call("MeterValues")  # queued after the stop, sent after it
    assert entries(after_stop) == ["1999"]
    await csms.answer(after_stop, {})
    await until(lambda: store.outbox_depth() == 0)


async def test_giving_up_a_combined_message_drops_only_what_was_attempted(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store, combine=10, attempts=2, interval_s=0.05)
    queue_session(store, samples=3)
    await link.open(outbox)

    await answer_start(csms)
    for _ in range(2):
        await csms.refuse(await csms.recv_call("MeterValues"))
    stop = await csms.recv_call("StopTransaction")  # the queue moved on
    await csms.answer(stop, {})
    await until(lambda: store.outbox_depth() == 0)
    given_up = [payload for action, payload, answer in owner.delivered if answer is None]
    assert [v["sampledValue"][0]["value"] for v in given_up[0]["meterValue"]] == [
        "1000", "1001", "1002",
    ]  # fmt: skip


# --- a bounded outbox ---------------------------------------------------------------------------


def queued(store: Store) -> list[tuple[str, str | None]]:
    """(action, meter reading) of every queued message, in order."""
    rows = store.db.execute("SELECT action, payload FROM outbox ORDER BY seq").fetchall()
    return [(a, meter_values_reading(p)) for a, p in rows]


def meter_values_reading(payload: str) -> str | None:
    values = json.loads(payload).get("meterValue")
    return values[0]["sampledValue"][0]["value"] if values else None


def payload_bytes(store: Store) -> int:
    row = store.db.execute("SELECT SUM(LENGTH(payload)), COUNT(*) FROM outbox").fetchone()
    return row[0] + row[1] * ROW_OVERHEAD


def test_a_full_outbox_thins_intermediate_samples_and_keeps_starts_stops_firsts_and_lasts(
    tmp_path: Path,
) -> None:
    sample_size = len('{"connectorId": 1, "meterValue": []}') + 60 + ROW_OVERHEAD
    store = Store(tmp_path / "state", max_queue_bytes=40 * sample_size)
    queue_session(store, samples=200)

    messages = queued(store)
    assert messages[0] == ("StartTransaction", None)
    assert messages[-1] == ("StopTransaction", None)
    readings = [reading for action, reading in messages if action == "MeterValues"]
    assert readings[0] == "1000" and readings[-1] == "1199"  # first and last sample kept
    assert len(readings) < 200 and store.outbox_thinned == 200 - len(readings)
    assert store.outbox_bytes == payload_bytes(store) <= 40 * sample_size
    # thinned oldest first: the newest samples keep more of their resolution than the oldest
    kept = [int(r) - 1000 for r in readings]
    assert sum(1 for n in kept if n >= 150) > sum(1 for n in kept if n < 50)


def test_a_full_outbox_never_drops_what_is_not_a_sample(tmp_path: Path) -> None:
    store = Store(tmp_path / "state", max_queue_bytes=1)
    for n in range(5):
        queue_session(store, samples=0, tx_id=f"tx-{n}")
    assert store.outbox_depth() == 10  # over the bound, but starts and stops stay
    assert store.outbox_thinned == 0


def test_the_outbox_size_is_known_again_after_a_restart_and_shrinks_with_deliveries(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "state")
    queue_session(store, samples=5)
    size = store.outbox_bytes
    assert size == payload_bytes(store) > 0
    store.close()

    reopened = Store(tmp_path / "state")
    assert reopened.outbox_bytes == size
    head = reopened.outbox_head()
    assert head is not None
    reopened.delivered(head, csms_id="7")
    assert reopened.outbox_bytes == payload_bytes(reopened) < size


def test_confirmed_samples_leave_the_queue_at_once_and_are_deleted_with_the_next_commit(
    store: Store, tmp_path: Path
) -> None:
    for n in range(3):
        store.enqueue("MeterValues", meter_values(n), "tx-1", time.time())
    head = store.outbox_head()
    assert head is not None
    store.delivered(head, durable=False)
    following = store.outbox_head()
    assert following is not None and following.seq > head.seq  # not sent twice
    # a crash now (another process opens the directory) sends the confirmed sample again:
    # re-sent, never lost
    after_crash = Store(tmp_path / "state")
    assert after_crash.outbox_head() == head
    after_crash.close()

    store.enqueue("StopTransaction", STOP, "tx-1", time.time())  # any commit takes it along
    assert Store(tmp_path / "state").outbox_depth() == 3
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again


def test_the_outbox_depth_does_not_count_confirmed_samples(store: Store) -> None:
    store.enqueue("MeterValues", meter_values(1), "tx-1", time.time())
    head = store.outbox_head()
    assert head is not None
    store.delivered(head, durable=False)
    assert store.outbox_depth() == 0 and store.outbox_head() is None
    assert store.outbox_bytes == 0


def test_a_database_from_before_the_bound_opens_and_its_queue_is_delivered(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    old = sqlite3.connect(directory / "chargerd.sqlite")
    old.executescript(
        """CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL,
        payload TEXT NOT NULL, tx_id TEXT, attempts INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL);
        INSERT INTO outbox (action, payload, tx_id, created_at)
        VALUES ('MeterValues', '{"connectorId": 1, "meterValue": []}', 'tx-1', 0);"""
    )
    old.commit()
    old.close()

    store = Store(directory)
    head = store.outbox_head()
    assert head is not None and head.action == "MeterValues"
    store.delivered(head)
    assert store.outbox_depth() == 0
