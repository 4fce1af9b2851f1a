"""OCPP 2.0.1: a backlog of periodic meter values made offline goes as few
TransactionEvents as the spec allows, and seqNo stays gap-free (against the dev CSMS,
whose ledger flags a seqNo that skips or repeats)."""

from __future__ import annotations

from datetime import datetime

from devcsms import Csms201

from .conftest import wait_until
from .conftest201 import Station201, csms, station

__all__ = ["csms", "station"]  # the 2.0.1 fixtures, not conftest.py's 1.6 ones


def sample_times(events: list[dict]) -> list[datetime]:
    return [
        datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00"))
        for e in events
        for mv in e.get("meterValue", [])
    ]


async def queue_offline_samples(station: Station201, csms: Csms201, samples: int) -> str:
    """A session whose connection drops while `samples` periodic events are queued; the
    session ends offline. Its transaction id."""
    await station.start()
    tx_id = await station.start_session(1)
    await station.wait_outbox(lambda depth: depth == 0, "empty before the outage")
    await csms.stop()
    await station.wait_link(connected=False)
    await station.wait_outbox(lambda depth: depth >= samples, f"{samples} events queued offline")
    await station.sim("tag", "TAG1")  # stopped while offline
    await station.wait_status(1, "Finishing")
    return tx_id


async def test_queued_periodic_events_go_as_one_event_with_every_sample_and_no_seq_no_gap(
    csms: Csms201, station: Station201
):
    tx_id = await queue_offline_samples(station, csms, samples=5)
    tx = station.tx(tx_id)
    online = len(tx.events)
    await csms.start()
    await wait_until(lambda: tx.ended, "the Ended event after the reconnect", timeout=8)
    await station.wait_outbox(lambda depth: depth == 0, "empty after the replay")

    replayed = tx.events[online:]
    periodic = [e for e in replayed if e.get("triggerReason") == "MeterValuePeriodic"]
    assert len(periodic) == 1, [e["triggerReason"] for e in replayed]  # all folded into one
    assert len(periodic[0]["meterValue"]) >= 5  # every queued sample, each with its time
    times = sample_times(periodic)
    assert times == sorted(times) and len(set(times)) == len(times)
    assert periodic[0]["offline"] is True and periodic[0]["eventType"] == "Updated"
    assert replayed[-1]["eventType"] == "Ended"
    assert tx.seq_nos == list(range(len(tx.events)))  # gap-free, nothing sent twice


async def test_replay_batch_one_sends_each_queued_event_alone(csms: Csms201, station: Station201):
    station.overrides.append("csms.replay_batch=1")
    tx_id = await queue_offline_samples(station, csms, samples=3)
    tx = station.tx(tx_id)
    online = len(tx.events)
    await csms.start()
    await wait_until(lambda: tx.ended, "the Ended event after the reconnect", timeout=8)

    periodic = [e for e in tx.events[online:] if e.get("triggerReason") == "MeterValuePeriodic"]
    assert len(periodic) >= 3 and all(len(e["meterValue"]) == 1 for e in periodic)
    assert tx.seq_nos == list(range(len(tx.events)))


async def test_a_folded_event_whose_answer_was_lost_is_sent_again_unchanged_after_kill_9(
    csms: Csms201, station: Station201
):
    """The fold and the renumbering are on disk before the folded event's first attempt:
    after a kill the same event (same seqNo, same samples) goes again, which the CSMS
    recognises, and what follows keeps its numbers (the ledger flags a seqNo reused for a
    different event or a gap)."""
    tx_id = await queue_offline_samples(station, csms, samples=4)
    tx = station.tx(tx_id)
    online = len(tx.events)
    csms.fail_next("TransactionEvent", 1, "drop_answer")
    await csms.start()
    await wait_until(lambda: len(tx.events) > online, "the first replayed event", timeout=8)
    station.kill()
    await station.start()
    await wait_until(lambda: tx.ended, "the Ended event after the restart", timeout=8)

    first = tx.events[online]
    assert first["triggerReason"] == "MeterValuePeriodic" and len(first["meterValue"]) >= 4
    assert tx.seq_nos.count(first["seqNo"]) == 2  # sent again after the kill, recognised
    assert sorted(set(tx.seq_nos)) == list(range(max(tx.seq_nos) + 1))
