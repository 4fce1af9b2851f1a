"""Groups idle, charging, latency and sessions, on one station process each: CPU and
wake-ups at rest and while charging, plug-in → StatusNotification latency, RSS over many
sessions."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from typing import TYPE_CHECKING

from .procs import (
    BenchError,
    cpu_seconds,
    cpu_times,
    rss_mb,
    run_ns,
    say,
    steal_pct,
    threads,
    wakeups,
)
from .station import Station

if TYPE_CHECKING:
    from .bench import Bench


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def station_run(bench: Bench, kind: str) -> None:
    station = Station(bench, kind, f"CP-{kind.upper()[:4]}", {"MeterValueSampleInterval": 1})
    say(f"{kind}: starting ({station.dir})")
    try:
        await station.start()
        await asyncio.sleep(2)  # first ticks, meter reads, ping
        rss_boot = rss_mb(station.pid)
        bench.put(kind, "rss_mb", round(rss_boot, 1))
        bench.details[f"{kind}_threads"] = threads(station.pid)
        say(f"  {kind}: RSS after boot {rss_boot:.1f} MB, {threads(station.pid)} threads")
        if "idle" in bench.groups:
            pct, wps, _ = await cpu_window(bench, station, "idle")
            bench.put(kind, "idle_cpu_pct", round(pct, 3))
            bench.put(kind, "idle_wakeups_per_s", round(wps, 1))
        if "charging" in bench.groups:
            await station.session_start(1, "BENCH1")
            await station.session_start(2, "BENCH2")
            await asyncio.sleep(1.5)
            pct, wps, msgs = await cpu_window(bench, station, "charging")
            bench.put(kind, "charging_cpu_pct", round(pct, 3))
            bench.put(kind, "charging_wakeups_per_s", round(wps, 1))
            bench.put(kind, "charging_meter_values_per_s", round(msgs, 2))
            await station.session_end(1, "BENCH1")
            await station.session_end(2, "BENCH2")
        if "latency" in bench.groups:
            spy = await bench.spy.start(station, "latency")
            await latency(bench, kind, station)
            await bench.spy.stop(spy)
        if "sessions" in bench.groups:
            spy = await bench.spy.start(station, "sessions")
            await sessions(bench, kind, station, rss_boot)
            await bench.spy.stop(spy)
    finally:
        code = await station.stop()
    if code != 0:
        raise BenchError(f"{kind} exited with {code} after SIGTERM\n{station.tail()}")


async def cpu_window(bench: Bench, station: Station, what: str) -> tuple[float, float, float]:
    """CPU % of one core (utime+stime), wakeups/s and MeterValues/s over the window."""
    seconds = bench.n(30, 10)
    pid = station.pid
    counts = bench.watch.counts
    mv0 = counts[(station.id, "MeterValues")]
    spy = await bench.spy.start(station, what)
    m0 = cpu_times()
    c0, n0, w0, t0 = cpu_seconds(pid), run_ns(pid), wakeups(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    c1, n1, w1, t1 = cpu_seconds(pid), run_ns(pid), wakeups(pid), time.perf_counter()
    await bench.spy.stop(spy)
    elapsed = t1 - t0
    pct = 100 * (c1 - c0) / elapsed
    fine = 100 * (n1 - n0) / 1e9 / elapsed
    bench.details[f"{station.kind}_{what}_machine_steal_pct"] = steal_pct(m0, cpu_times())
    bench.put(station.kind, f"{what}_cpu_pct_schedstat", round(fine, 3))
    wps = (w1 - w0) / elapsed
    mps = (counts[(station.id, "MeterValues")] - mv0) / elapsed
    say(f"  {station.kind}: {what} CPU {pct:.3f} % of one core over {elapsed:.1f} s "
        f"({c1 - c0:.2f} s CPU; schedstat {fine:.3f} %), {wps:.1f} wakeups/s, "
        f"{mps:.2f} MeterValues/s")  # fmt: skip
    return pct, wps, mps


async def latency(bench: Bench, kind: str, station: Station) -> None:
    events = bench.n(300, 80)
    plug, unplug = [], []
    for _ in range(events):
        for command, status, sink in (("plug", "Preparing", plug),
                                      ("unplug", "Available", unplug)):  # fmt: skip
            arrived = bench.watch.status(station.id, 1, status)
            t0 = time.perf_counter()
            await station.ctl.sim(command, "1")
            t1 = await station.wait(arrived, f"{status} on connector 1")
            sink.append((t1 - t0) * 1000)
            await asyncio.sleep(0.02)  # an idle daemon between hardware events
    p50, p99 = percentile(plug, 50), percentile(plug, 99)
    bench.put(kind, "latency_p50_ms", round(p50, 2))
    bench.put(kind, "latency_p99_ms", round(p99, 2))
    bench.put(kind, "latency_max_ms", round(max(plug), 2))
    bench.put(kind, "unplug_latency_p50_ms", round(percentile(unplug, 50), 2))
    bench.put(kind, "unplug_latency_p99_ms", round(percentile(unplug, 99), 2))
    say(f"  {kind}: plug → Preparing p50 {p50:.2f} ms, p99 {p99:.2f} ms, max "
        f"{max(plug):.2f} ms over {events}; unplug → Available p50 "
        f"{percentile(unplug, 50):.2f} ms, p99 {percentile(unplug, 99):.2f} ms")  # fmt: skip


async def sessions(bench: Bench, kind: str, station: Station, rss_boot: float) -> None:
    """RSS over many plug/tag/tag/unplug cycles by a station's regular users (10 id
    tags, in turn); then by new users (a new id tag each time), which shows what every
    remembered id tag costs (the authorization cache)."""
    warmup, cycles, every = 20, bench.n(200, 40), bench.n(20, 10)
    distinct = bench.n(100, 20)

    async def cycle(i: int, tag: str) -> None:
        await station.session_start(1 + i % 2, tag)
        await station.session_end(1 + i % 2, tag)

    def slope(samples: list[tuple[int, float]]) -> float:
        xs, ys = [x for x, _ in samples], [y for _, y in samples]
        return statistics.linear_regression(xs, ys).slope * 1024 if len(set(xs)) > 1 else 0

    t0 = time.perf_counter()
    for i in range(warmup):
        await cycle(i, f"USER{i % 10}")
    rss_warm = rss_mb(station.pid)
    samples = [(0, rss_warm)]
    for i in range(cycles):
        await cycle(i, f"USER{i % 10}")
        if (i + 1) % every == 0:
            samples.append((i + 1, rss_mb(station.pid)))
    if kind == "chargerd":
        await station.ctl.poll(lambda s: s["outbox_depth"] == 0, "outbox empty")
    await asyncio.sleep(1.5)  # sim meter persistence, last answers
    rss_end = rss_mb(station.pid)
    samples.append((cycles, rss_end))
    elapsed = time.perf_counter() - t0
    fresh = [(0, rss_end)]
    for i in range(distinct):
        await cycle(i, f"NEW{i:05d}")
        if (i + 1) % every == 0:
            fresh.append((i + 1, rss_mb(station.pid)))
    growth = rss_end - rss_warm
    bench.put(kind, "rss_growth_mb", round(growth, 2))
    bench.put(kind, "rss_after_warmup_mb", round(rss_warm, 1))
    bench.put(kind, "rss_end_mb", round(rss_end, 1))
    bench.put(kind, "rss_slope_kb_per_session", round(slope(samples), 2))
    bench.put(kind, "rss_slope_new_tags_kb_per_session", round(slope(fresh), 2))
    bench.put(kind, "session_cycles", cycles)
    bench.put(kind, "session_cycle_ms", round(elapsed / (warmup + cycles) * 1000, 1))
    bench.details[f"{kind}_rss_samples_mb"] = [(x, round(y, 2)) for x, y in samples]
    bench.details[f"{kind}_rss_new_tags_samples_mb"] = [(x, round(y, 2)) for x, y in fresh]
    say(f"  {kind}: RSS boot {rss_boot:.1f} → after {warmup} warm-up sessions "
        f"{rss_warm:.1f} → after {cycles} more {rss_end:.1f} MB (growth {growth:+.2f} MB, "
        f"slope {slope(samples):+.2f} KB/session; {elapsed / (warmup + cycles) * 1000:.0f} "
        f"ms per plug/tag/tag/unplug cycle); {distinct} sessions with new id tags: "
        f"{slope(fresh):+.2f} KB/session")  # fmt: skip
