"""Clock-aligned meter values of OCPP 2.0.1 and AlignedDataCtrlr.SendDuringIdle (J01.FR.20):
the real core, store and adapter, run by the sequencing tests' small runtime."""

from __future__ import annotations

from pathlib import Path

from test_ocpp201_sequencing import Runtime, events, make_config, online

ALIGNED = {
    "SampledDataCtrlr": {"TxUpdatedInterval": 0},
    "AlignedDataCtrlr": {
        "Interval": 10,
        "TxEndedInterval": 20,
        "TxEndedMeasurands": "Energy.Active.Import.Register",
    },
}


async def session_events(tmp_path: Path, send_during_idle: bool) -> list[dict]:
    ocpp = {k: dict(v) for k, v in ALIGNED.items()}
    ocpp["AlignedDataCtrlr"]["SendDuringIdle"] = send_during_idle
    rt = Runtime(make_config(tmp_path, ocpp))
    try:
        online(rt)
        tx_id = await rt.start()
        await rt.tick(41)
        await rt.feed(lambda now: rt.station.tag_presented("TAG1", None, now))
        return events(rt.store, tx_id)
    finally:
        rt.close()


async def test_clock_aligned_updates_during_a_transaction_by_default(tmp_path: Path):
    got = await session_events(tmp_path, send_during_idle=False)
    assert [e["triggerReason"] for e in got].count("MeterValueClock") == 4


async def test_send_during_idle_sends_no_clock_aligned_values_while_a_transaction_is_on(
    tmp_path: Path,
):
    got = await session_events(tmp_path, send_during_idle=True)
    assert not any(e["triggerReason"] == "MeterValueClock" for e in got)
    # the samples kept for the Ended event are not sent on their own: they stay
    contexts = [mv["sampledValue"][0]["context"] for mv in got[-1]["meterValue"]]
    assert contexts == ["Transaction.Begin", "Sample.Clock", "Sample.Clock", "Transaction.End"]
    assert [e["seqNo"] for e in got] == list(range(len(got)))
