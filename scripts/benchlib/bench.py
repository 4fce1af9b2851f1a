"""One run of the bench: the CSMS, the groups asked for in their order, the figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from . import report
from .blocks import blocks
from .csms import Watch, make_csms
from .drain_day import drain_day
from .procs import (
    CHILD_ENV,
    PROCS,
    TEMP_DIRS,
    BenchError,
    cpu_times,
    machine,
    remove_temp_dirs,
    say,
    steal_pct,
)
from .replay import replay
from .spy import Spy
from .startup import cold_start, interpreter_floor, warm_up
from .station_run import station_run

GROUPS = (
    "cold_start", "idle", "charging", "latency", "sessions", "replay", "drain_day", "blocks",
)  # fmt: skip


class Bench:
    """What the groups share: options, the CSMS (replaced by some groups), the processes
    and directories to clean up, and the figures."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.procs = PROCS
        self.watch = Watch()
        self.rtt_ms = args.rtt or 0.0  # every group's CSMS answers after this long
        self.csms = make_csms(self.watch, rtt_ms=self.rtt_ms)
        self.dirs: list[Path] = []
        self.violations: list[str] = []
        self.pycache = Path(tempfile.mkdtemp(prefix="cdb-pyc-", dir="/tmp"))
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        self.results: dict[str, Any] = {}
        self.baseline: dict[str, Any] = {}
        self.details: dict[str, Any] = {}
        self.spy = Spy(Path(args.py_spy) if args.py_spy else None)
        self.groups = set(args.only.split(",")) if args.only else set(GROUPS)
        unknown = self.groups - set(GROUPS)
        if unknown:
            raise SystemExit(f"bench: unknown group(s) {sorted(unknown)}; known: {GROUPS}")

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    async def run(self) -> None:
        machine0 = cpu_times()
        load = Path("/proc/loadavg").read_text().split()[:3]
        self.details["loadavg_at_start"] = " ".join(load)
        if float(load[0]) > 0.5:
            say(f"bench: the machine is busy already (load average {' '.join(load)}): "
                "expect noisy figures")  # fmt: skip
        try:
            await self._run()
        finally:
            self.details["machine_steal_pct"] = steal_pct(machine0, cpu_times())
            self.details["loadavg_at_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    async def _run(self) -> None:
        await self.csms.start()
        say(f"CSMS on {self.csms.url}; {'quick' if self.quick else 'full'} run of "
            f"{', '.join(g for g in GROUPS if g in self.groups)}")  # fmt: skip
        kinds = ["chargerd"] + ([] if self.args.no_baseline else ["baseline"])
        if self.groups - {"blocks"}:  # blocks starts its own daemons, without this cache
            for kind in kinds:
                await warm_up(self, kind)
        if "cold_start" in self.groups:
            await interpreter_floor(self)
            for kind in kinds:
                await cold_start(self, kind)
        if self.groups & {"idle", "charging", "latency", "sessions"}:
            for kind in kinds:
                await station_run(self, kind)
        if "replay" in self.groups:
            await replay(self)
        if "drain_day" in self.groups:
            await drain_day(self)
        if "blocks" in self.groups:
            await blocks(self)
        self.details["csms_violations"] = self.violations + self.csms.ledger.violations
        if self.csms.running:
            await self.csms.stop()

    def put(self, kind: str, key: str, value: Any) -> None:
        (self.results if kind == "chargerd" else self.baseline)[key] = value

    async def new_csms(
        self, *, start: bool, same_port: bool = True, rtt_ms: float | None = None
    ) -> None:
        """Replace the CSMS by a fresh one (empty ledger), on the same port by default,
        answering after --rtt unless `rtt_ms` says otherwise."""
        old = self.csms
        if old.running:
            await old.stop()
        self.violations += old.ledger.violations
        rtt = self.rtt_ms if rtt_ms is None else rtt_ms
        self.csms = make_csms(self.watch, old.port if same_port else 0, rtt)
        if start:
            await self.csms.start()

    # ---- output

    def report(self) -> dict[str, Any]:
        return {
            **self.results,
            "baseline": self.baseline,
            "details": {
                **self.details,
                "quick": self.quick,
                "groups": sorted(self.groups),
                "machine": machine(),
            },
        }

    def table(self) -> str:
        return report.table(self.results, self.baseline, self.details)


async def amain(args: argparse.Namespace) -> int:
    # SIGTERM stops the bench as Ctrl-C does: the main task is cancelled, cleanup runs
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    # The CSMS warns about answers lost when a station is stopped; violations are reported.
    logging.getLogger("chargerd.csms").setLevel(logging.ERROR)
    bench = Bench(args)
    TEMP_DIRS.append(bench.pycache)
    failed = interrupted = False
    t0 = time.perf_counter()
    try:
        await bench.run()
    except BenchError as exc:
        failed = True
        say(f"bench: FAILED: {exc}")
    except asyncio.CancelledError:
        interrupted = True
        say("bench: interrupted; stopping what it started")
    finally:
        bench.procs.cleanup()
        if bench.csms.running:
            await bench.csms.stop()
        if failed or args.keep:
            say(f"bench: logs and state kept in {', '.join(str(d) for d in bench.dirs)}")
        else:
            TEMP_DIRS.extend(bench.dirs)
        remove_temp_dirs()
    say(f"\n{bench.table()}\n")
    say(f"bench: {time.perf_counter() - t0:.0f} s in total")
    if bench.details.get("csms_violations"):
        say(f"bench: CSMS saw protocol violations: {bench.details['csms_violations'][:5]}")
    if args.json and not interrupted:
        Path(args.json).write_text(json.dumps(bench.report(), indent=2) + "\n")
        say(f"bench: figures written to {args.json}")
    return 130 if interrupted else 1 if failed else 0
