"""Group drain_day: a day offline, found by the daemon at start-up and drained through a
CSMS that answers after a network's round trip."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .csms import Drain, await_drain, split_turns
from .procs import BenchError, cpu_seconds, say
from .station import Station

if TYPE_CHECKING:
    from .bench import Bench

DAY_RTT_MS = 50.0  # drain_day's CSMS answers after this long, unless --rtt says otherwise


async def drain_day(bench: Bench) -> None:
    """A day offline at 10 s samples on 2 connectors, found by the daemon at start-up
    and sent to a CSMS that answers each CALL after the round trip (--rtt, 50 ms)."""
    rtt = DAY_RTT_MS if bench.args.rtt is None else bench.args.rtt
    timeout = bench.n(600, 120)
    station = Station(bench, "chargerd", "CP-DAY", None)
    t0 = time.perf_counter()
    backlog = write_offline_day(station.dir / "state")
    say(f"drain_day: {backlog} messages written to {station.dir} as a day offline leaves "
        f"them ({time.perf_counter() - t0:.1f} s); CSMS answers after {rtt:g} ms")  # fmt: skip
    await bench.new_csms(start=True, same_port=False, rtt_ms=rtt)
    drain = Drain(station.id, len(bench.csms.ledger.entries))
    boot = bench.watch.call(station.id, "BootNotification")
    cpu0 = 0.0
    try:
        station.spawn()
        await station.wait(boot, "BootNotification")
        cpu0 = cpu_seconds(station.pid)
        await station.ctl.connect(station.proc)
        drained = await await_drain(bench.csms, station, drain, backlog, timeout)
        cpu_s = cpu_seconds(station.pid) - cpu0
    finally:
        code = await station.stop()
    if code != 0:
        raise BenchError(f"chargerd exited with {code} after SIGTERM\n{station.tail()}")
    seconds = drain.seconds if drained else float(timeout)
    turns = split_turns(bench.csms.ledger.entries, station.id)
    r = bench.results
    r["drain_day_s"] = round(seconds, 2) if drained else None
    r["drain_day_calls"] = drain.calls
    r["drain_day_msgs"] = backlog
    r["drain_day_rtt_ms"] = rtt
    # the station's share: answer sent → next CALL received, summed over the CALLs
    # (the rest is the CSMS: the round trip plus its own validation of each CALL)
    r["drain_day_station_s"] = round(turns.get("station_mean_ms", 0) * drain.calls / 1000, 2)
    bench.details["drain_day"] = {
        "drained": drained, "confirmed": drain.rows, "calls_by_action": dict(drain.by_action),
        "station_cpu_s": round(cpu_s, 2), "seconds_waited": round(seconds, 2),
        "turns": turns,
    }  # fmt: skip
    verdict = (f"in {seconds:.1f} s" if drained else
               f"NOT drained in {timeout} s: {drain.rows} of {backlog} confirmed")  # fmt: skip
    say(f"  drain_day: {backlog} messages {verdict}, {drain.calls} CALLs "
        f"({dict(drain.by_action)}), station CPU {cpu_s:.1f} s; per CALL {turns} (the "
        f"CSMS's time includes the {rtt:g} ms); the station's share "
        f"{r['drain_day_station_s']:.1f} s")  # fmt: skip


def write_offline_day(
    directory: Path, connectors: tuple[int, ...] = (1, 2), hours: float = 24,
    interval_s: float = 10, power_w: float = 3 * 230 * 32,
) -> int:  # fmt: skip
    """Leave in a fresh state dir what `hours` offline leave in the daemon's store: per
    connector a transaction started that long ago, a MeterValues every `interval_s`
    (the default MeterValuesSampledData: energy register and power), stopped now. Written
    with the daemon's own Store and OCPP 1.6 payload builders, in the order and with the
    times the daemon would have written them, so that the daemon finds the backlog at
    start-up as after a real outage. Returns the number of queued messages (rows)."""
    from chargerd.core.model import Transaction
    from chargerd.ocpp16.payloads import meter_value, timestamp
    from chargerd.store import Store
    from hal.interfaces import MeterReading

    store = Store(directory)
    # a fixture: durability is not the point here, and 17,000 fsyncs would take a while
    store.db.execute("PRAGMA synchronous=OFF")
    measurands = ["Energy.Active.Import.Register", "Power.Active.Import"]
    end = time.time() - 1
    start = end - hours * 3600
    steps = int(hours * 3600 / interval_s)
    txs: dict[int, Any] = {}
    for c in connectors:
        tx = Transaction(str(uuid.uuid4()), c, f"DAY{c}", 0, start, 0)
        payload = {"connectorId": c, "idTag": tx.id_tag, "meterStart": 0,
                   "timestamp": timestamp(start)}  # fmt: skip
        store.start_transaction(tx, ("StartTransaction", payload), start)
        txs[c] = tx
    energy_wh = 0.0
    for k in range(1, steps + 1):
        at = start + k * interval_s
        energy_wh = power_w * k * interval_s / 3600
        for c in connectors:
            value = meter_value(MeterReading(energy_wh, power_w), measurands, "Sample.Periodic",
                                at, 32)  # fmt: skip
            message = ("MeterValues", {"connectorId": c, "meterValue": [value]})
            store.record_sample(txs[c].id, round(energy_wh), None, message, at)
    for c in connectors:
        payload = {"meterStop": round(energy_wh), "timestamp": timestamp(end), "reason": "Local",
                   "idTag": txs[c].id_tag}  # fmt: skip
        store.end_transaction(txs[c].id, ("StopTransaction", payload), end)
    depth = store.outbox_depth()
    store.close()
    return depth
