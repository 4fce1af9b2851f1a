"""Group replay: a station's offline backlog sent to a fresh CSMS, timed against the
bound of any OCPP-J sender on the same CSMS (bare request loops of
scripts/bench_baseline_cp.py)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .csms import Drain, await_drain, split_turns
from .procs import CHILD_ENV, BenchError, cpu_seconds, cpu_times, die_with_parent, say, steal_pct
from .station import BASELINE_SCRIPT, Ctl, Station, status_is

if TYPE_CHECKING:
    from .bench import Bench


@dataclass(frozen=True)
class Backlog:
    """What an outage leaves queued: "charging" (both connectors charge through it for
    `size` seconds, a sample a second) or "pairs" (short sessions until about `size`
    messages are queued)."""

    kind: str
    size: int

    def describe(self) -> str:
        if self.kind == "charging":
            return f"{self.size} s outage, both connectors charging, 1 s samples"
        return f"about {self.size} messages of short sessions"


async def replay_batch_supported(bench: Bench) -> bool:
    """`csms.replay_batch` is a new key: ask the daemon's own check-config once."""
    station = Station(bench, "chargerd", "CP-CHECK", None, {"replay_batch": 1})
    path = station.write_config()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargerd", "check-config", str(path), env=CHILD_ENV,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await proc.wait() == 0


async def replay(bench: Bench) -> None:
    """Rounds of: CSMS down, build a backlog, fresh CSMS up, time the drain, then the
    bounds against that same CSMS. Paired per round, as this machine's speed drifts.

    Two backlogs: an outage with both connectors charging and sampling every second
    (the one issue 8 measured: what a station queues offline; its samples combine),
    and short sessions only (Start/Stop pairs: nothing combines; the worst case). Then
    the first once more with combining off (csms.replay_batch=1)."""
    rounds = bench.n(3, 1)
    charging = Backlog("charging", bench.n(60, 30))
    pairs = Backlog("pairs", bench.n(400, 200))
    per_round = await replay_rounds(bench, "CP-REPLAY", rounds, charging, {})
    put_replay(bench, "replay", per_round)
    bench.details["replay_rounds"] = per_round
    worst = await replay_rounds(bench, "CP-REPLAY-PAIRS", rounds, pairs, {})
    put_replay(bench, "replay_pairs", worst)
    bench.details["replay_pairs_rounds"] = worst
    if await replay_batch_supported(bench):
        one = await replay_rounds(bench, "CP-REPLAY-1", 1, charging, {"replay_batch": 1})
        put_replay(bench, "replay_unbatched", one)
        bench.details["replay_unbatched_rounds"] = one
    else:
        bench.details["replay_unbatched"] = "csms.replay_batch refused by check-config"
        say("  replay: this tree's check-config refuses csms.replay_batch: no round "
            "with combining off (the rounds above combine as the daemon does)")  # fmt: skip
    # the other loops once, for the comparison of the layers
    last = worst[-1]
    loops = {"bare_Heartbeat": last["bound_msgs_per_s"]}
    for mode, action, count in (
        ("bare", "Transactions", last["calls"] + last["calls"] % 2),
        ("bare", "MeterValues", bench.n(3000, 600)),
        ("ocpp-loop", "Heartbeat", bench.n(3000, 600)),
        ("ocpp-loop", "MeterValues", bench.n(3000, 600)),
        ("ocpp-loop", "Transactions", last["calls"] + last["calls"] % 2),
    ):
        loops[f"{mode}_{action}"] = await request_loop(bench, mode, action, count)
    bench.details["request_loops_msgs_per_s"] = {k: round(v, 1) for k, v in loops.items()}
    bench.baseline["replay_pairs_msgs_per_s"] = round(loops["ocpp-loop_Transactions"], 1)


def put_replay(bench: Bench, prefix: str, rounds: list[dict[str, Any]]) -> None:
    """The medians of the rounds under `prefix`_*; each ratio is the median of the
    rounds' own ratios (a round and its bounds ran back to back)."""

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    r = bench.results
    r[f"{prefix}_backlog"] = round(med("backlog"))
    r[f"{prefix}_msgs_per_s"] = round(med("msgs_per_s"), 1)
    r[f"{prefix}_calls_per_s"] = round(med("calls_per_s"), 1)
    r[f"{prefix}_bound_msgs_per_s"] = round(med("bound_msgs_per_s"), 1)
    r[f"{prefix}_pct"] = round(100 * med("share_of_bound"), 1)
    r[f"{prefix}_same_calls_bound_per_s"] = round(med("same_calls_bound_per_s"), 1)
    r[f"{prefix}_same_calls_pct"] = round(100 * med("share_of_same_calls"), 1)


async def replay_rounds(
    bench: Bench, station_id: str, rounds: int, backlog: Backlog, csms_options: dict[str, Any]
) -> list[dict[str, Any]]:
    await bench.new_csms(start=True, same_port=False)
    ocpp = {"MeterValueSampleInterval": 1, "AllowOfflineTxForUnknownId": True,
            "LocalAuthorizeOffline": True}  # fmt: skip
    station = Station(bench, "chargerd", station_id, ocpp, csms_options)
    options = " ".join(f"csms.{k}={v}" for k, v in csms_options.items())
    say(f"replay ({backlog.describe()}): starting chargerd {options} ({station.dir}); "
        f"{rounds} round(s)")  # fmt: skip
    per_round: list[dict[str, Any]] = []
    try:
        await station.start()
        for n in range(rounds):
            result = await replay_round(bench, station, backlog, n)
            # the bounds, right after the drain and against the same CSMS
            bound = await request_loop(bench, "bare", "Heartbeat", bench.n(3000, 600))
            frames = station.dir / f"replay{n + 1}-calls.json"
            frames.write_text(json.dumps(result.pop("frames")))
            same = await request_loop(bench, "bare", "Frames", result["calls"], frames)
            result["bound_msgs_per_s"] = round(bound, 1)
            result["same_calls_bound_per_s"] = round(same, 1)
            result["share_of_bound"] = round(result["msgs_per_s"] / bound, 3)
            result["share_of_same_calls"] = round(result["calls_per_s"] / same, 3)
            per_round.append(result)
            say(f"  round {n + 1}: replay {result['msgs_per_s']:.0f} msg/s = "
                f"{result['share_of_bound']:.0%} of the bare Heartbeat loop; "
                f"{result['calls_per_s']:.0f} CALLs/s = {result['share_of_same_calls']:.0%}"
                " of a bare loop sending the same CALLs")  # fmt: skip
    finally:
        code = await station.stop()
        if not bench.csms.running:
            await bench.csms.start()
    if code != 0:
        raise BenchError(f"chargerd exited with {code} after SIGTERM\n{station.tail()}")
    return per_round


async def replay_round(
    bench: Bench, station: Station, backlog_kind: Backlog, n: int
) -> dict[str, Any]:
    ctl = station.ctl
    await ctl.poll(lambda s: s["outbox_depth"] == 0, "outbox empty before the outage")
    await ctl.poll(lambda s: s["link"]["state"] == "connected", "link up before the outage")
    await bench.new_csms(start=False)  # down; a fresh one comes up for the replay
    await ctl.poll(lambda s: s["link"]["state"] != "connected", "link down")
    t_build = time.perf_counter()
    if backlog_kind.kind == "charging":
        sessions = await charge_offline(ctl, n, backlog_kind.size)
    else:
        sessions = await short_sessions_offline(ctl, n, backlog_kind.size)
    await asyncio.sleep(1.2)  # no sample may still be on its way
    backlog = (await ctl.status())["outbox_depth"]  # rows, as the station wrote them
    build_s = time.perf_counter() - t_build
    say(f"  backlog: {backlog} transaction messages queued offline ({sessions} sessions, "
        f"{build_s:.1f} s)")  # fmt: skip

    spy = await bench.spy.start(station, f"replay{n + 1}")
    cpu0, machine0 = cpu_seconds(station.pid), cpu_times()
    drain = Drain(station.id, len(bench.csms.ledger.entries))
    await bench.csms.start()
    await await_drain(bench.csms, station, drain, backlog, 120)
    cpu_ms = 1000 * (cpu_seconds(station.pid) - cpu0) / backlog
    steal = steal_pct(machine0, cpu_times())
    await bench.spy.stop(spy)
    if drain.rows < backlog:
        raise BenchError(f"replay: {backlog} queued but {drain.rows} confirmed")
    seconds = drain.seconds
    turns = split_turns(bench.csms.ledger.entries, station.id)
    say(f"  replay: {backlog} messages in {drain.calls} CALLs in {seconds:.3f} s from "
        f"(re)connect = {backlog / seconds:.0f} msg/s, {drain.calls / seconds:.0f} CALLs/s; "
        f"CALLs {dict(drain.by_action)}; per CALL {turns}, station CPU {cpu_ms:.2f} ms "
        f"per message; steal {steal} %")  # fmt: skip
    return {
        "backlog": backlog,
        "calls": drain.calls,
        "msgs_per_s": round(backlog / seconds, 1),
        "calls_per_s": round(drain.calls / seconds, 1),
        "offline_sessions": sessions,
        "calls_by_action": dict(drain.by_action),
        "connect_to_last_answer_s": round(seconds, 4),
        "turns": turns,
        "station_cpu_ms_per_msg": round(cpu_ms, 3),
        "machine_steal_pct": steal,
        "frames": drain.frames,
    }


async def charge_offline(ctl: Ctl, n: int, seconds: int) -> int:
    """Both connectors charge through the outage for `seconds`, sampling every second
    (MeterValueSampleInterval 1): 2 StartTransaction, 2 × `seconds` MeterValues, 2
    StopTransaction queued."""
    for c in (1, 2):
        await ctl.sim("plug", str(c))
        await ctl.poll(status_is(c, "Preparing"), f"Preparing on {c}")
        await ctl.sim("tag", f"OUT{n}-{c}", "--connector", str(c))
    for c in (1, 2):
        await ctl.poll(status_is(c, "Charging"), f"offline start on connector {c}")
    await asyncio.sleep(seconds)
    for c in (1, 2):
        await ctl.sim("tag", f"OUT{n}-{c}", "--connector", str(c))
        await ctl.poll(status_is(c, "Finishing"), f"offline stop on connector {c}")
        await ctl.sim("unplug", str(c))
        await ctl.poll(status_is(c, "Available"), f"Available on {c}")
    return 2


async def short_sessions_offline(ctl: Ctl, n: int, target: int) -> int:
    """Connector 1 runs short sessions (a StartTransaction and a StopTransaction each)
    until about `target` messages are queued, while connector 2 charges through the
    outage (a MeterValues every second, mixed in)."""
    long_tag = f"LONG{n}"
    await ctl.sim("plug", "2")
    await ctl.sim("tag", long_tag, "--connector", "2")
    await ctl.poll(status_is(2, "Charging"), "offline start on connector 2")
    t_build = time.perf_counter()
    depth, sessions = 0, 0
    while depth < target - 2:
        if time.perf_counter() - t_build > 120:
            raise BenchError(f"backlog only {depth} after 120 s")
        tag = f"OFF{n}-{sessions:04d}"
        await ctl.sim("plug", "1")
        await ctl.poll(status_is(1, "Preparing"), "Preparing on 1")
        await ctl.sim("tag", tag, "--connector", "1")
        await ctl.poll(status_is(1, "Charging"), "offline start on connector 1")
        await ctl.sim("tag", tag, "--connector", "1")
        await ctl.poll(status_is(1, "Finishing"), "offline stop on connector 1")
        await ctl.sim("unplug", "1")
        status = await ctl.poll(status_is(1, "Available"), "Available on 1")
        depth = status["outbox_depth"]
        sessions += 1
        await asyncio.sleep(0.1)  # spread out: connector 2's MeterValues mix in
    await ctl.sim("tag", long_tag, "--connector", "2")
    await ctl.poll(status_is(2, "Finishing"), "offline stop on connector 2")
    await ctl.sim("unplug", "2")
    await ctl.poll(status_is(2, "Available"), "Available on 2")
    return sessions + 1


async def request_loop(
    bench: Bench, mode: str, action: str, count: int, frames: Path | None = None
) -> float:
    """One CALL at a time against the current CSMS, from a separate process."""
    loop_id = f"CP-LOOP-{mode}-{action}"
    extra = ["--frames", str(frames)] if frames is not None else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BASELINE_SCRIPT), mode, "--url", bench.csms.url,
        "--id", loop_id, "--count", str(count), "--action", action, *extra,
        stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent, env=CHILD_ENV,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 120 + count * bench.rtt_ms / 1000)
    except TimeoutError:
        raise BenchError(f"{mode} {action} loop did not finish in time") from None
    finally:
        if proc.returncode is None:  # timed out, or the bench was interrupted
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise BenchError(f"{mode} {action} loop exited with {proc.returncode}")
    answer = json.loads(out.splitlines()[-1])
    rate = answer["msgs_per_s"]
    turns = split_turns(bench.csms.ledger.entries, loop_id)
    turns["client_cpu_ms_per_msg"] = round(answer["cpu_ms_per_msg"], 3)
    bench.details.setdefault("request_loop_turns", {})[f"{mode}_{action}"] = turns
    say(f"  {mode} (one CALL at a time) {count} {action}: {rate:.0f} msg/s; {turns}")
    return rate
