"""Transaction messages that fail are retried after TransactionMessageRetryInterval."""

from __future__ import annotations

import pytest

from devcsms import Csms

from .conftest import Station, calls, wait_call

RETRY_INTERVAL_S = 1  # TransactionMessageRetryInterval in the test config
CALL_TIMEOUT_S = 1  # csms.call_timeout_s in the test config


@pytest.mark.parametrize(
    ("mode", "earliest"),
    [("error", RETRY_INTERVAL_S), ("silent", CALL_TIMEOUT_S + RETRY_INTERVAL_S)],
    ids=["after-callerror", "after-no-answer"],
)
async def test_failed_stop_transaction_is_retried_and_delivered_once(
    csms: Csms, station: Station, mode: str, earliest: float
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    await station.wait_outbox(lambda depth: depth == 0, "empty")
    csms.fail_next("StopTransaction", 1, mode)
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")

    failed = await wait_call(csms, "StopTransaction", after=after, answered=mode == "error")
    assert failed.note == f"fail_next: {mode}"
    retry = await wait_call(csms, "StopTransaction", after=failed.index + 1)
    assert retry.payload == failed.payload
    waited = retry.time - failed.time
    assert earliest - 0.1 <= waited <= earliest + 1.5, f"retried after {waited:.2f} s"

    tx = csms.ledger.transactions[tx_id]
    assert (tx.stop_count, tx.stop_reason) == (1, "Local")
    await station.wait_outbox(lambda depth: depth == 0, "empty after the retry")
    assert len(calls(csms, "StopTransaction", after)) == 2


async def test_message_given_up_after_last_attempt_does_not_block_the_queue(
    csms: Csms, station: Station
):
    station.ocpp["TransactionMessageAttempts"] = 2
    await station.start()
    csms.fail_next("MeterValues", 2, "error")
    tx_id = await station.start_session(1, "TAG1")
    first = await wait_call(csms, "MeterValues", transactionId=tx_id)
    second = await wait_call(csms, "MeterValues", after=first.index + 1, transactionId=tx_id)
    assert second.payload == first.payload  # the one retry
    later = await wait_call(csms, "MeterValues", after=second.index + 1, transactionId=tx_id)
    assert later.payload != first.payload  # given up: the queue moved on
    tx = csms.ledger.transactions[tx_id]
    assert first.payload["meterValue"][0] not in tx.meter_values
    after = len(csms.ledger.entries)
    await station.sim("tag", "TAG1")
    stop = await wait_call(csms, "StopTransaction", after=after)
    assert stop.payload["transactionId"] == tx_id
