"""Store + Outbox + Rpc against a real websocket CSMS on 127.0.0.1 (tests/outbox_harness.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from outbox_harness import (
    HEARTBEAT_ANSWER,
    START,
    STOP,
    WAIT_S,
    Csms,
    Link,
    cancel,
    make_outbox,
    meter_values,
    transaction,
    until,
)

from chargerd.core.model import AuthInfo, AuthStatus
from chargerd.rpc import CallError, ConnectionLost
from chargerd.store import Store

# --- delivery ----------------------------------------------------------------------------------


async def test_stored_messages_are_delivered_in_order_one_call_at_a_time(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store)
    for n in (1, 2, 3):
        store.enqueue("MeterValues", meter_values(n), None, time.time())
    await link.open(outbox)

    for n in (1, 2, 3):
        call = await csms.recv_call("MeterValues")
        assert call[3] == meter_values(n)
        await csms.expect_silence()  # no second CALL before this one is answered
        await csms.answer(call, {})

    await until(lambda: store.outbox_depth() == 0)
    assert owner.delivered == [("MeterValues", meter_values(n), {}) for n in (1, 2, 3)]


async def test_a_message_is_on_disk_before_its_first_attempt_and_survives_a_crash(
    csms: Csms, link: Link, store: Store, tmp_path: Path
) -> None:
    store.enqueue("MeterValues", meter_values(1), "tx-1", time.time())
    assert store.outbox_depth() == 1
    after_crash = Store(tmp_path / "state")  # a new process on the same directory
    head = after_crash.outbox_head()
    assert head is not None
    assert (head.action, head.payload, head.tx_id, head.attempts) == (
        "MeterValues",
        meter_values(1),
        "tx-1",
        0,
    )

    outbox, _ = make_outbox(store)
    await link.open(outbox)
    call = await csms.recv_call("MeterValues")
    assert after_crash.outbox_depth() == 1  # still there while the CALL waits for its answer
    await csms.answer(call, {})
    await until(lambda: after_crash.outbox_depth() == 0)
    after_crash.close()


async def test_a_message_stored_while_connected_is_sent_after_wake(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store)
    await link.open(outbox)
    await csms.expect_silence()

    store.enqueue("MeterValues", meter_values(1), None, time.time())
    outbox.wake()
    await csms.answer(await csms.recv_call("MeterValues"), {})
    await until(lambda: len(owner.delivered) == 1)


# --- retries -----------------------------------------------------------------------------------


async def test_callerror_is_retried_after_interval_times_attempt_then_dropped(
    csms: Csms, link: Link, store: Store
) -> None:
    interval = 0.1
    outbox, owner = make_outbox(store, attempts=3, interval_s=interval)
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    store.enqueue("MeterValues", meter_values(2), None, time.time())
    await link.open(outbox)

    call = await csms.recv_call("MeterValues")
    refused_at = time.monotonic()
    await csms.refuse(call)
    for attempt in (1, 2):
        call = await csms.recv_call("MeterValues")
        waited = time.monotonic() - refused_at
        assert call[3] == meter_values(1)
        assert interval * attempt - 0.01 <= waited < interval * (attempt + 1) - 0.01, waited
        head = store.outbox_head()
        assert head is not None and head.attempts == attempt
        refused_at = time.monotonic()
        await csms.refuse(call)

    # given up after the third attempt: the owner hears "no answer", the next one goes
    call = await csms.recv_call("MeterValues")
    assert call[3] == meter_values(2)
    assert owner.delivered == [("MeterValues", meter_values(1), None)]
    await csms.answer(call, {})
    await until(lambda: store.outbox_depth() == 0)
    await csms.expect_silence(within=3 * interval)


async def test_an_action_the_csms_does_not_implement_is_given_up_at_once(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store, attempts=3, interval_s=5)
    event = {"type": "StartupOfTheDevice", "timestamp": "2026-01-01T00:00:00Z"}
    store.enqueue("SecurityEventNotification", event, None, time.time())
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    await link.open(outbox)
    await csms.refuse(await csms.recv_call("SecurityEventNotification"), "NotImplemented")
    call = await csms.recv_call("MeterValues")  # no retry wait holds the queue
    await csms.answer(call, {})
    await until(lambda: store.outbox_depth() == 0)
    assert owner.delivered[0] == ("SecurityEventNotification", event, None)


async def test_no_answer_counts_as_an_attempt(csms: Csms, link: Link, store: Store) -> None:
    outbox, owner = make_outbox(store, attempts=2, interval_s=0.05, timeout_s=0.3)
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    await link.open(outbox)

    first = await csms.recv_call("MeterValues")
    sent_at = time.monotonic()
    second = await csms.recv_call("MeterValues")  # the first is never answered
    # the timeout (0.3 s) and the retry interval (0.05 s) passed between them; the first
    # frame may have been read late on a busy machine, so only the timeout is sure
    assert time.monotonic() - sent_at >= 0.3 - 0.05
    assert second[1] != first[1] and second[3] == first[3]
    head = store.outbox_head()
    assert head is not None and head.attempts == 1

    await csms.answer(first, {})  # too late: no call waits for it any more
    await csms.answer(second, {})
    await until(lambda: store.outbox_depth() == 0)
    assert owner.delivered == [("MeterValues", meter_values(1), {})]


async def test_no_answer_to_the_last_attempt_drops_the_message(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store, attempts=1, timeout_s=0.2)
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    await link.open(outbox)

    await csms.recv_call("MeterValues")
    await until(lambda: store.outbox_depth() == 0)
    assert owner.delivered == [("MeterValues", meter_values(1), None)]
    await csms.expect_silence()


async def test_a_connection_loss_mid_call_is_not_an_attempt_and_the_message_is_resent(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store, attempts=1)
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    session = await link.open(outbox)

    await csms.recv_call("MeterValues")
    await csms.drop()
    await asyncio.wait_for(session.delivery, WAIT_S)  # run() ends with the connection
    assert not outbox.connected
    head = store.outbox_head()
    assert head is not None and head.attempts == 0
    assert owner.delivered == []

    await link.open(outbox)
    call = await csms.recv_call("MeterValues")
    assert call[3] == meter_values(1)
    await csms.answer(call, {})
    await until(lambda: store.outbox_depth() == 0)
    assert owner.delivered == [("MeterValues", meter_values(1), {})]


async def test_run_ends_when_the_connection_closes_while_nothing_is_queued(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, _ = make_outbox(store)
    session = await link.open(outbox)
    await csms.drop()
    await asyncio.wait_for(session.serving, WAIT_S)

    await asyncio.wait_for(session.delivery, 1.0)  # "deliver until the connection closes"


# --- messages that are not stored --------------------------------------------------------------


async def test_post_is_dropped_when_not_connected(csms: Csms, link: Link, store: Store) -> None:
    outbox, _ = make_outbox(store)
    outbox.post("StatusNotification", {"connectorId": 1, "status": "Available"})
    await link.open(outbox)

    store.enqueue("MeterValues", meter_values(1), None, time.time())
    outbox.wake()
    await csms.answer(await csms.recv_call("MeterValues"), {})
    await csms.expect_silence()


async def test_post_while_connected_is_delivered(csms: Csms, link: Link, store: Store) -> None:
    outbox, _ = make_outbox(store)
    await link.open(outbox)
    outbox.post("StatusNotification", {"connectorId": 1, "status": "Available"})
    call = await csms.recv_call("StatusNotification")
    assert call[3] == {"connectorId": 1, "status": "Available"}
    await csms.answer(call, {})


async def test_posted_messages_are_not_replayed_after_a_reconnect(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store)
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    session = await link.open(outbox)
    await csms.recv_call("MeterValues")
    outbox.post("StatusNotification", {"connectorId": 1, "status": "Charging"})
    await csms.drop()
    await asyncio.wait_for(session.delivery, WAIT_S)

    await link.open(outbox)
    await csms.answer(await csms.recv_call("MeterValues"), {})
    await until(lambda: store.outbox_depth() == 0)
    await csms.expect_silence()


async def test_call_goes_before_queued_transaction_messages(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, _ = make_outbox(store)
    for n in (1, 2):
        store.enqueue("MeterValues", meter_values(n), None, time.time())
    await link.open(outbox)

    first = await csms.recv_call("MeterValues")
    urgent = asyncio.create_task(outbox.call("Heartbeat", {}))
    await asyncio.sleep(0.05)
    await csms.answer(first, {})

    heartbeat = await csms.recv_call("Heartbeat")
    await csms.answer(heartbeat, HEARTBEAT_ANSWER)
    assert await asyncio.wait_for(urgent, WAIT_S) == HEARTBEAT_ANSWER
    call = await csms.recv_call("MeterValues")
    assert call[3] == meter_values(2)
    await csms.answer(call, {})


async def test_call_raises_the_csms_callerror(csms: Csms, link: Link, store: Store) -> None:
    outbox, _ = make_outbox(store)
    await link.open(outbox)
    urgent = asyncio.create_task(outbox.call("Authorize", {"idTag": "TAG1"}))
    await csms.refuse(await csms.recv_call("Authorize"), "SecurityError")
    with pytest.raises(CallError) as caught:
        await asyncio.wait_for(urgent, WAIT_S)
    assert caught.value.code == "SecurityError"


async def test_call_when_not_connected_raises_connection_lost(store: Store) -> None:
    outbox, _ = make_outbox(store)
    with pytest.raises(ConnectionLost):
        await outbox.call("Heartbeat", {})


async def test_a_call_on_the_wire_fails_with_connection_lost_when_the_connection_drops(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, _ = make_outbox(store)
    await link.open(outbox)
    urgent = asyncio.create_task(outbox.call("Authorize", {"idTag": "TAG1"}))
    await csms.recv_call("Authorize")
    await csms.drop()
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(urgent, WAIT_S)


async def test_a_call_on_the_wire_fails_when_the_session_cancels_delivery_on_close(
    csms: Csms, link: Link, store: Store
) -> None:
    # The OCPP adapter's session: serve the socket; when it closes, cancel the delivery
    # task. An Authorize on the wire at that moment must still end (the caller then
    # applies the offline rules), not wait forever.
    outbox, _ = make_outbox(store)
    _, rpc = await link.connect()
    delivery = link.keep(asyncio.create_task(outbox.run(rpc)))

    async def session() -> None:
        try:
            await rpc.serve()
        finally:
            await cancel(delivery)

    link.keep(asyncio.create_task(session()))
    await until(lambda: outbox.connected)
    urgent = link.keep(asyncio.create_task(outbox.call("Authorize", {"idTag": "TAG1"})))
    await csms.recv_call("Authorize")

    await csms.drop()
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(asyncio.shield(urgent), 1.0)


async def test_a_posted_message_keeps_its_place_among_transaction_messages(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, _ = make_outbox(store)
    store.enqueue("MeterValues", meter_values(1), None, time.time())
    await link.open(outbox)

    first = await csms.recv_call("MeterValues")
    outbox.post("StatusNotification", {"connectorId": 1, "status": "Charging"})
    await asyncio.sleep(0.01)
    store.enqueue("MeterValues", meter_values(2), None, time.time())  # newer than the post
    outbox.wake()
    await csms.answer(first, {})

    await csms.answer(await csms.recv_call("StatusNotification"), {})
    call = await csms.recv_call("MeterValues")
    assert call[3] == meter_values(2)
    await csms.answer(call, {})


async def test_a_post_waits_behind_older_transaction_messages(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, _ = make_outbox(store)
    for n in (1, 2):
        store.enqueue("MeterValues", meter_values(n), None, time.time())
    await link.open(outbox)

    first = await csms.recv_call("MeterValues")
    await asyncio.sleep(0.01)
    outbox.post("StatusNotification", {"connectorId": 1, "status": "Charging"})
    await csms.answer(first, {})
    second = await csms.recv_call("MeterValues")
    assert second[3] == meter_values(2)
    await csms.answer(second, {})
    await csms.answer(await csms.recv_call("StatusNotification"), {})


# --- late binding of the transaction id --------------------------------------------------------


async def test_prepare_fills_in_the_csms_transaction_id_at_send_time(
    csms: Csms, link: Link, store: Store
) -> None:
    outbox, owner = make_outbox(store)
    tx = transaction()
    now = time.time()
    # All three are queued before the CSMS has assigned any transaction id.
    store.start_transaction(tx, ("StartTransaction", START), now)
    store.record_sample(tx.id, 1200, None, ("MeterValues", meter_values(1)), now)
    store.end_transaction(tx.id, ("StopTransaction", STOP), now)
    await link.open(outbox)

    start = await csms.recv_call("StartTransaction")
    assert start[3] == START
    await csms.answer(start, {"idTagInfo": {"status": "Accepted"}, "transactionId": 4711})

    values = await csms.recv_call("MeterValues")
    assert values[3] == {**meter_values(1), "transactionId": 4711}
    await csms.answer(values, {})
    stop = await csms.recv_call("StopTransaction")
    assert stop[3] == {**STOP, "transactionId": 4711}
    await csms.answer(stop, {})

    await until(lambda: store.outbox_depth() == 0)
    assert [action for action, _, _ in owner.delivered] == [
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ]
    # delivered(..., last=True) after the StopTransaction forgot the ended transaction
    assert store.csms_id(tx.id) is None
    assert store.transaction_samples(tx.id) == []


# --- the store ---------------------------------------------------------------------------------


def test_settings_seeded_from_yaml_round_trip_and_a_csms_change_keeps_the_seed(
    store: Store, tmp_path: Path
) -> None:
    store.put_setting("HeartbeatInterval", 300, seeded=300)
    store.put_setting("LocalPreAuthorize", False, seeded=False)
    store.put_setting("HeartbeatInterval", 60)  # changed by the CSMS
    store.put_setting("AuthorizationKey", "secret")  # never seeded

    reopened = Store(tmp_path / "state")
    assert reopened.settings() == {
        "HeartbeatInterval": (60, 300),
        "LocalPreAuthorize": (False, False),
        "AuthorizationKey": ("secret", None),
    }
    reopened.put_setting("HeartbeatInterval", 120, seeded=120)  # the YAML changed
    assert reopened.settings()["HeartbeatInterval"] == (120, 120)


def test_meta_round_trips(store: Store) -> None:
    assert store.get_meta("boot") is None
    store.set_meta("boot", "1")
    store.set_meta("boot", "2")
    assert store.get_meta("boot") == "2"


def test_auth_cache_round_trips_and_clears(store: Store, tmp_path: Path) -> None:
    full = AuthInfo(AuthStatus.Accepted, expires_at=1_700_003_600.0, parent_id="FLEET")
    store.cache_auth("TAG1", full)
    store.cache_auth("TAG2", AuthInfo(AuthStatus.Blocked))
    store.cache_auth("TAG2", AuthInfo(AuthStatus.Expired))

    reopened = Store(tmp_path / "state")
    assert reopened.auth_cache() == {"TAG1": full, "TAG2": AuthInfo(AuthStatus.Expired)}
    reopened.cache_auth(None, None)
    assert reopened.auth_cache() == {}


def test_availability_round_trips(store: Store, tmp_path: Path) -> None:
    assert store.inoperative_connectors() == []
    store.set_availability(1, False)
    store.set_availability(2, False)
    store.set_availability(2, True)
    assert Store(tmp_path / "state").inoperative_connectors() == [1]


def test_open_transactions_lists_started_and_not_ended_ones(store: Store, tmp_path: Path) -> None:
    first, second = transaction("tx-1"), transaction("tx-2")
    second.started_at += 60
    store.start_transaction(first, ("StartTransaction", START), first.started_at)
    store.start_transaction(second, None, second.started_at)
    assert [t.id for t in store.open_transactions()] == ["tx-1", "tx-2"]

    store.end_transaction("tx-1", ("StopTransaction", STOP), first.started_at + 100)
    reopened = Store(tmp_path / "state")
    [still_open] = reopened.open_transactions()
    assert (
        still_open.id,
        still_open.connector,
        still_open.id_tag,
        still_open.meter_start_wh,
        still_open.started_at,
        still_open.last_meter_wh,
    ) == ("tx-2", 1, "TAG1", 1000, second.started_at, 1000)
    assert reopened.outbox_depth() == 2  # the Start and the Stop of tx-1


def test_record_sample_keeps_the_highest_meter_value_and_the_samples(store: Store) -> None:
    tx = transaction()
    store.start_transaction(tx, None, tx.started_at)
    store.record_sample(tx.id, 1300, {"wh": 1300}, None, tx.started_at + 60)
    store.record_sample(tx.id, 1200, {"wh": 1200}, ("MeterValues", meter_values(1)), 0)
    assert store.open_transactions()[0].last_meter_wh == 1300
    assert store.transaction_samples(tx.id) == [{"wh": 1300}, {"wh": 1200}]
    assert store.outbox_depth_for(tx.id) == 1


def test_next_seq_no_counts_up_and_persists(store: Store, tmp_path: Path) -> None:
    tx = transaction()
    store.start_transaction(tx, None, tx.started_at)
    assert [store.next_seq_no(tx.id) for _ in range(3)] == [0, 1, 2]
    assert Store(tmp_path / "state").next_seq_no(tx.id) == 3


def test_retry_later_persists_attempts_and_not_before(store: Store, tmp_path: Path) -> None:
    store.enqueue("MeterValues", meter_values(1), None, 100.0)
    head = store.outbox_head()
    assert head is not None
    store.retry_later(head.seq, 2, 250.0)
    reopened = Store(tmp_path / "state").outbox_head()
    assert reopened is not None
    assert (reopened.seq, reopened.attempts, reopened.not_before, reopened.created_at) == (
        head.seq,
        2,
        250.0,
        100.0,
    )


def test_delivered_records_the_csms_id_and_last_forgets_only_an_ended_transaction(
    store: Store,
) -> None:
    tx = transaction()
    store.start_transaction(tx, ("StartTransaction", START), tx.started_at)
    start = store.outbox_head()
    assert start is not None
    store.delivered(start, csms_id="4711")
    assert store.csms_id(tx.id) == "4711"
    assert store.tx_by_csms_id("4711") == tx.id

    store.enqueue("MeterValues", meter_values(1), tx.id, tx.started_at)
    values = store.outbox_head()
    assert values is not None
    store.delivered(values, last=True)  # not ended yet: the row stays
    assert store.csms_id(tx.id) == "4711"

    store.end_transaction(tx.id, ("StopTransaction", STOP), tx.started_at + 100)
    assert store.tx_by_csms_id("4711") is None  # ended
    stop = store.outbox_head()
    assert stop is not None
    store.delivered(stop, last=True)
    assert store.csms_id(tx.id) is None
    assert store.outbox_depth() == 0
