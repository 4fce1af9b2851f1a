"""Group cold_start: how long a station takes from spawn to its BootNotification; and
the unmeasured warm-up start that fills the bytecode cache before any group."""

from __future__ import annotations

import asyncio
import signal
import statistics
import sys
import time
from typing import TYPE_CHECKING

from .procs import CHILD_ENV, BenchError, cpu_seconds, rss_mb, say
from .station import Station

if TYPE_CHECKING:
    from .bench import Bench


async def interpreter_floor(bench: Bench) -> None:
    times = []
    for _ in range(bench.n(5, 3)):
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass", env=CHILD_ENV)
        await proc.wait()
        times.append(time.perf_counter() - t0)
    bench.details["python_startup_s"] = round(statistics.median(times), 4)


async def warm_up(bench: Bench, kind: str) -> None:
    """One start and session, not measured: fills the bytecode cache (a first start
    compiles everything, stdlib included, and ends up with ~7 MB more RSS) and the
    OS's file cache, as on a station that has run before."""
    station = Station(bench, kind, f"CP-WARM-{kind[0].upper()}", None)
    t0 = time.perf_counter()
    try:
        await station.start()
        bench.details[f"{kind}_first_start_s"] = round(time.perf_counter() - t0, 3)
        await station.session_start(1, "WARMUP")
        await station.session_end(1, "WARMUP")
    finally:
        code = await station.stop()
    if code != 0:
        raise BenchError(f"{kind} exited with {code} after SIGTERM\n{station.tail()}")
    say(f"  {kind}: warm-up start (fills the bytecode cache; not counted) "
        f"{bench.details[f'{kind}_first_start_s']:.2f} s")  # fmt: skip


async def cold_start(bench: Bench, kind: str) -> None:
    runs = bench.n(7, 3)
    times, cpu, rss = [], [], []
    for i in range(runs):
        station = Station(bench, kind, f"CP-COLD-{kind[0].upper()}{i + 1}", None)
        boot = bench.watch.call(station.id, "BootNotification")
        t0 = station.spawn()
        t_boot = await station.wait(boot, "BootNotification")
        times.append(t_boot - t0)
        cpu.append(cpu_seconds(station.pid))
        rss.append(rss_mb(station.pid))
        code = await station.stop()
        if code not in (0, -signal.SIGTERM):
            raise BenchError(f"{kind} exited with {code} after SIGTERM\n{station.tail()}")
    value = statistics.median(times)
    bench.put(kind, "cold_start_s", round(value, 3))
    bench.put(kind, "cold_start_cpu_s", round(statistics.median(cpu), 3))
    bench.put(kind, "cold_start_rss_mb", round(statistics.median(rss), 1))
    bench.details[f"{kind}_cold_start_runs_s"] = [round(t, 3) for t in times]
    say(f"  {kind}: cold start {value:.3f} s (median of {runs}; runs "
        f"{', '.join(f'{t:.3f}' for t in times)}); CPU {statistics.median(cpu):.2f} s, "
        f"RSS at boot {statistics.median(rss):.1f} MB")  # fmt: skip
