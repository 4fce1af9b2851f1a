"""A station process under test (chargerd, or the baseline CP) and its control socket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import ROOT
from .procs import WAIT_S, BenchError

if TYPE_CHECKING:
    from .bench import Bench

BASELINE_SCRIPT = ROOT / "scripts" / "bench_baseline_cp.py"


def status_is(connector: int, status: str) -> Callable[[dict[str, Any]], bool]:
    """For Ctl.poll: `connector` reports `status` in `chargerctl status`."""
    return lambda s: next(c for c in s["connectors"] if c["id"] == connector)["status"] == status


class Ctl:
    """The control socket (chargerctl's protocol) over one persistent connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, proc: subprocess.Popen, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.reader, self.writer = await asyncio.open_unix_connection(str(self.path))
                if (await self.request({"cmd": "status"})).get("ok"):
                    return
            except (OSError, ValueError):
                pass
            if proc.poll() is not None:
                raise BenchError(f"the station exited with {proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise BenchError(f"control socket {self.path} did not answer in {timeout} s")
            await asyncio.sleep(0.05)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(json.dumps(message).encode() + b"\n")
        await self.writer.drain()
        line = await asyncio.wait_for(self.reader.readline(), WAIT_S)
        if not line:
            raise BenchError("the control socket closed")
        return json.loads(line)

    async def sim(self, *args: str) -> None:
        answer = await self.request({"cmd": "sim", "args": list(args)})
        if not answer.get("ok"):
            raise BenchError(f"sim {' '.join(args)}: {answer}")

    async def status(self) -> dict[str, Any]:
        answer = await self.request({"cmd": "status"})
        if not answer.get("ok"):
            raise BenchError(f"status: {answer}")
        return answer["status"]

    async def connector_status(self, n: int) -> str:
        status = await self.status()
        return next(c["status"] for c in status["connectors"] if c["id"] == n)

    async def poll(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            status = await self.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise BenchError(f"not within {WAIT_S} s: {what}")
            await asyncio.sleep(0.01)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Station:
    """One station process: chargerd, or the baseline CP (same control protocol)."""

    def __init__(
        self, bench: Bench, kind: str, station_id: str, ocpp: dict[str, Any] | None,
        csms_options: dict[str, Any] | None = None,
    ):  # fmt: skip
        self.bench = bench
        self.kind = kind  # "chargerd" or "baseline"
        self.id = station_id
        self.dir = Path(tempfile.mkdtemp(prefix="cdb-", dir="/tmp"))  # short socket paths
        self.socket = self.dir / "ctl.sock"
        self.log = self.dir / "station.log"
        self.ocpp = ocpp or {}
        self.csms_options = csms_options or {}  # more csms.* keys of the YAML
        self.proc: subprocess.Popen | None = None
        self.ctl = Ctl(self.socket)
        bench.dirs.append(self.dir)

    def command(self) -> list[str]:
        csms = self.bench.csms
        if self.kind == "baseline":
            interval = str(self.ocpp.get("MeterValueSampleInterval", 1))
            return [sys.executable, str(BASELINE_SCRIPT), "cp", "--url", csms.url,
                    "--id", self.id, "--control", str(self.socket),
                    "--sample-interval", interval]  # fmt: skip
        path = self.write_config()
        profile: list[str] = []
        if self.bench.args.cprofile:  # the whole life of the process, into DIR/<id>.prof
            out = Path(self.bench.args.cprofile).resolve() / f"{self.id}.prof"
            out.parent.mkdir(parents=True, exist_ok=True)
            profile = ["-m", "cProfile", "-o", str(out)]
        return [sys.executable, *profile, "-m", "chargerd", "run", "--config", str(path)]

    def write_config(self) -> Path:
        csms = self.bench.csms
        config = {
            "station": {"id": self.id, "vendor": "bench", "model": "bench"},
            "csms": {
                "url": csms.url,
                "ocpp_version": "1.6",
                "call_timeout_s": 10,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 0.5,
                **self.csms_options,
            },  # fmt: skip
            "storage": {"dir": str(self.dir / "state")},
            "control": {"socket": str(self.socket)},
            "hal": {"driver": "sim"},
            "connectors": [
                {"id": 1, "max_current_a": 32, "phases": 3},
                {"id": 2, "max_current_a": 32, "phases": 3},
            ],
            "ocpp": {"HeartbeatInterval": 300, **self.ocpp},
            "log": {"level": "info"},
        }
        path = self.dir / "station.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def spawn(self) -> float:
        """Start the process; returns time.perf_counter() just before the spawn."""
        command = self.command()
        t0 = time.perf_counter()
        self.proc = self.bench.procs.spawn(command, self.log, self.dir)
        return t0

    async def start(self) -> float:
        """Start and wait until BootNotification and the status of connectors 0..2 arrived;
        returns spawn → BootNotification in seconds."""
        watch = self.bench.watch
        boot = watch.call(self.id, "BootNotification")
        statuses = [watch.status(self.id, c, "Available") for c in (0, 1, 2)]
        t0 = self.spawn()
        booted = await self.wait(boot, "BootNotification")
        for c, future in enumerate(statuses):
            await self.wait(future, f"StatusNotification Available of connector {c}")
        await self.ctl.connect(self.proc)
        return booted - t0

    async def wait(self, future: asyncio.Future[float], what: str, timeout: float = WAIT_S):
        """Like wait(), but fails at once (with the log) if the process exits."""
        deadline = time.monotonic() + timeout
        while not future.done():
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"{self.kind} exited with {self.proc.returncode} "
                                 f"while waiting for {what}\n{self.tail()}")  # fmt: skip
            if time.monotonic() > deadline:
                raise BenchError(f"{self.kind}: no {what} within {timeout} s\n{self.tail()}")
            await asyncio.wait([future], timeout=0.05)
        return future.result()

    async def stop(self) -> int:
        self.ctl.close()
        if self.proc is None:
            return 0
        return await self.bench.procs.stop(self.proc)

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(["--- log tail " + str(self.log)] + text[-lines:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # ---- sessions, waiting for what the CSMS receives

    async def session_start(self, connector: int, tag: str) -> None:
        w = self.bench.watch
        preparing = w.status(self.id, connector, "Preparing")
        await self.ctl.sim("plug", str(connector))
        await self.wait(preparing, f"Preparing on {connector}")
        charging = w.status(self.id, connector, "Charging")
        await self.ctl.sim("tag", tag, "--connector", str(connector))
        await self.wait(charging, f"Charging on {connector}")

    async def session_end(self, connector: int, tag: str) -> None:
        w = self.bench.watch
        finishing = w.status(self.id, connector, "Finishing")
        await self.ctl.sim("tag", tag, "--connector", str(connector))
        await self.wait(finishing, f"Finishing on {connector}")
        available = w.status(self.id, connector, "Available")
        await self.ctl.sim("unplug", str(connector))
        await self.wait(available, f"Available on {connector}")
