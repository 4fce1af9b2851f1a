"""One soak: the CSMS and the daemon started, a session worker per connector and the chaos
until the time is up, then a quiet period (the CSMS up, failures cleared, the sessions
ended) until `chargerctl status` says outbox_depth 0 and every transaction the CSMS knows
is over; the daemon gets SIGTERM (it must exit 0); then the checks of the OCPP version.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import CONNECTORS, ROOT, STATION_ID
from .chaos import Chaos
from .daemon import Daemon, DaemonGone, SoakError
from .protocol import Protocol
from .sessions import Sessions
from .verdict import Outcome, print_verdict

DRAIN_S = 90.0  # the final quiet period's limit


class Soak:
    def __init__(
        self,
        protocol: Protocol,
        workdir: Path,
        *,
        seconds: float,
        seed: int,
        power_cut: bool,
    ) -> None:
        self.protocol = protocol
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.csms = protocol.csms()
        self.problems: list[str] = []
        self.power_cut = power_cut
        self.disk: Any = None  # the PowerCutMount holding the state dir (--power-cut)

    def config(self) -> dict[str, Any]:
        return {
            "station": {"id": STATION_ID, "vendor": "chargerd-soak", "model": "soak"},
            "csms": {
                "url": self.csms.url,
                "ocpp_version": self.protocol.version,
                "call_timeout_s": 1,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.5,
            },
            "storage": {"dir": str(self.state_root / "state")},
            "control": {"socket": str(self.workdir / "ctl.sock")},
            "hal": {"driver": "sim"},
            "connectors": [{"id": n, "max_current_a": 32, "phases": 3} for n in CONNECTORS],
            "ocpp": self.protocol.ocpp(self.rng),
            "log": {"level": "info"},
        }

    @property
    def state_root(self) -> Path:
        return self.disk.mountpoint if self.disk is not None else self.workdir

    # ---- running

    async def run(self) -> int:
        if self.power_cut:
            from tests.support.powercut_fs import PowerCutMount

            self.disk = PowerCutMount(self.workdir)
            try:
                await asyncio.to_thread(self.disk.start)
            except RuntimeError as exc:
                raise SoakError(str(exc)) from exc
        await self.csms.start()
        daemon = Daemon(self.workdir, self.config())
        sessions = Sessions(daemon, self.rng, self.problems)
        p = self.protocol
        chaos = Chaos(daemon, self.csms, self.rng, self.disk, p.fail_actions, p.tx_actions)
        try:
            await daemon.start()
            end = time.monotonic() + self.seconds
            workers = [asyncio.create_task(sessions.worker(n, end)) for n in CONNECTORS]
            watchdog = asyncio.create_task(self.watchdog(daemon))
            try:
                await chaos.run(end)
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            await self.quiet_period(daemon)
            watchdog.cancel()
            code = await daemon.terminate()
            if code != 0:
                self.problems.append(f"chargerd exited with {code} after SIGTERM (expected 0)")
        finally:
            daemon.ensure_dead()
            await self.csms.stop()
            if self.disk is not None:
                await asyncio.to_thread(self.disk.unmount)
        outcome = Outcome(
            ledger=self.csms.ledger,
            sessions=sessions.all,
            problems=self.problems,
            daemon_log=daemon.log_text(),
            counters=chaos.counters,
            seed=self.seed,
            seconds=self.seconds,
            power_cut=self.power_cut,
            workdir=self.workdir,
        )
        return print_verdict(outcome, p.verdict(outcome))

    async def watchdog(self, daemon: Daemon) -> None:
        """A daemon that exits by itself is a finding; it is started again."""
        while True:
            await asyncio.sleep(0.2)
            if not daemon.up.is_set() or daemon.proc is None or daemon.proc.poll() is None:
                continue
            async with daemon.lock:
                if not daemon.up.is_set() or daemon.proc.poll() is None:
                    continue
                daemon.up.clear()
                daemon.generation += 1
            text = f"chargerd exited by itself with {daemon.proc.returncode}"
            daemon.unexpected_exits.append(text)
            self.problems.append(text)
            await daemon.start()

    # ---- the quiet period

    async def quiet_period(self, daemon: Daemon) -> None:
        self.csms.clear_failures()
        if not self.csms.running:
            await self.csms.start()
        if not daemon.up.is_set():
            await daemon.start()
        deadline = time.monotonic() + DRAIN_S
        last = ""
        while time.monotonic() < deadline:
            try:
                status = await daemon.status(daemon.generation)
            except DaemonGone:
                await asyncio.sleep(0.2)
                continue
            open_here = [c["id"] for c in status["connectors"] if c["transaction"]]
            open_there = self.csms.ledger.active_transactions(STATION_ID)
            last = (
                f"link {status['link']['state']}, outbox_depth {status['outbox_depth']}, "
                f"transactions open in chargerd on {open_here}, "
                f"at the CSMS {[t.transaction_id for t in open_there]}"
            )
            if open_here:  # a session left running (should not be): end it
                for n in open_here:
                    await daemon.ctl(daemon.generation, "sim", "unplug", str(n))
            elif (
                status["link"]["state"] == "connected"
                and status["outbox_depth"] == 0
                and not open_there
            ):
                await self.confirm_with_chargerctl(daemon)
                return
            await asyncio.sleep(0.2)
        self.problems.append(f"not drained within {DRAIN_S} s: {last}")

    async def confirm_with_chargerctl(self, daemon: Daemon) -> None:
        """What an operator would look at: `chargerctl status --json`."""
        command = [sys.executable, "-m", "chargerd.ctl", "--socket", str(daemon.socket)]
        result = await asyncio.to_thread(
            subprocess.run,
            [*command, "status", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            depth = json.loads(result.stdout)["outbox_depth"]
        except (ValueError, KeyError) as exc:
            self.problems.append(f"chargerctl status --json: {exc}: {result.stderr.strip()}")
            return
        if depth != 0:
            self.problems.append(f"chargerctl status --json says outbox_depth {depth}")
