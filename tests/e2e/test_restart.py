"""Power cuts (SIGKILL) and graceful stops (SIGTERM) with transactions and queued messages."""

from __future__ import annotations

import json

from devcsms import Csms

from .conftest import STATION_ID, Station, calls, energy_values, wait_call, wait_until


async def test_kill_mid_transaction_stops_it_with_power_loss_after_restart(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    tx = csms.ledger.transactions[tx_id]
    await wait_until(
        lambda: any(v > tx.meter_start for v in energy_values(tx.meter_values)),
        "a meter value above meterStart reaching the CSMS",
    )
    last_seen = max(energy_values(tx.meter_values))

    station.kill()
    assert station.exit_codes == [-9]
    mark = await station.start()
    stop = await wait_call(csms, "StopTransaction", after=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "PowerLoss"
    assert stop.payload["meterStop"] >= last_seen
    assert (tx.start_count, tx.stop_count) == (1, 1)
    assert calls(csms, "StartTransaction", mark) == []
    assert csms.ledger.active_transactions(STATION_ID) == []
    assert (await station.connector(1))["transaction"] is None
    await station.wait_outbox(lambda depth: depth == 0, "empty")


async def test_sigterm_exits_0_and_next_start_stops_open_transaction_with_reboot(
    csms: Csms, station: Station
):
    await station.start()
    tx_id = await station.start_session(1, "TAG1")
    await station.stop()  # asserts exit code 0
    assert csms.ledger.transactions[tx_id].stop_count == 0
    mark = await station.start()
    stop = await wait_call(csms, "StopTransaction", after=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "Reboot"
    tx = csms.ledger.transactions[tx_id]
    assert (tx.start_count, tx.stop_count) == (1, 1)
    assert stop.payload["meterStop"] >= tx.meter_start


async def test_kill_while_offline_queue_is_delivered_after_restart_once(
    csms: Csms, station: Station
):
    await station.start()
    first_id = await station.start_session(1, "TAG1")
    await station.wait_outbox(lambda depth: depth == 0, "empty before the outage")
    await csms.stop()
    await station.wait_link(connected=False)

    await station.sim("tag", "TAG1")  # offline stop of the first session
    await station.wait_status(1, "Finishing")
    await station.sim("plug", "2")
    await station.sim("tag", "TAG1", "--connector", "2")  # offline start (cached tag)
    await station.wait_status(2, "Charging")
    queued = await station.wait_outbox(lambda depth: depth >= 3, "Stop, Start and a sample")
    station.kill()

    await csms.start()
    mark = await station.start()
    await wait_until(
        lambda: (
            len(csms.ledger.transactions) == 2
            and all(t.stopped for t in csms.ledger.transactions.values())
        ),
        "both transactions stopped at the CSMS",
    )
    await station.wait_outbox(lambda depth: depth == 0, "empty after the replay")

    first = csms.ledger.transactions[first_id]
    (second,) = [t for t in csms.ledger.transactions.values() if t is not first]
    assert (first.stop_reason, second.stop_reason) == ("Local", "PowerLoss")
    for tx in (first, second):
        assert (tx.start_count, tx.stop_count) == (1, 1), tx
    assert second.connector_id == 2

    delivered = [
        e
        for e in calls(csms, after=mark)
        if e.action in ("StartTransaction", "StopTransaction", "MeterValues")
    ]
    # none duplicated ...
    texts = [json.dumps(e.payload, sort_keys=True) for e in delivered]
    assert len(texts) == len(set(texts)), texts
    # ... and none lost: everything queued before the kill, plus the PowerLoss stop
    assert len(delivered) >= queued + 1
    assert [e.action for e in delivered].count("StartTransaction") == 1
    assert second.meter_values, "the sample queued before the kill was lost"


async def test_kill_before_start_answer_resends_start_and_stops_once(csms: Csms, station: Station):
    await station.start()
    csms.fail_next("StartTransaction", 1, "drop_answer")  # processed, answer lost
    after = len(csms.ledger.entries)
    await station.sim("plug", "1")
    await station.sim("tag", "TAG1")
    await wait_call(csms, "StartTransaction", after=after, answered=False)
    await wait_until(lambda: len(csms.ledger.transactions) == 1, "the CSMS to record it")
    station.kill()

    mark = await station.start()
    stop = await wait_call(csms, "StopTransaction", after=mark)
    (tx,) = csms.ledger.transactions.values()
    assert (stop.payload["transactionId"], stop.payload["reason"]) == (
        tx.transaction_id,
        "PowerLoss",
    )
    assert tx.stop_count == 1
    assert len(calls(csms, "StartTransaction", mark)) == 1  # resent once, same transaction


async def test_sigterm_while_csms_unreachable_exits_0(csms: Csms, station: Station):
    await station.start()
    await csms.stop()
    await station.wait_link(connected=False)
    await station.stop()


async def test_sigterm_while_boot_pending_exits_0(csms: Csms, station: Station):
    csms.boot_status, csms.boot_interval = "Pending", 300
    mark = await station.start(wait=False)
    await wait_call(csms, "BootNotification", after=mark)
    await station.stop()


async def test_sigterm_while_a_call_awaits_its_answer_exits_0(csms: Csms, station: Station):
    station.overrides.append("csms.call_timeout_s=30")
    await station.start()
    csms.fail_next("StatusNotification", 1, "silent")
    after = len(csms.ledger.entries)
    await station.sim("plug", "2")
    await wait_call(csms, "StatusNotification", after=after, answered=False)
    await station.stop()
