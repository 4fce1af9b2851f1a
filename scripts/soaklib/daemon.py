"""The real chargerd as a subprocess (`python -m chargerd run`), restarted on the same state
dir; `generation` counts its runs, so a step begun in a killed run fails with DaemonGone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from chargerd.ctl import request

from . import ROOT

START_WAIT_S = 15.0  # how long a (re)started daemon may take to answer on its socket


class DaemonGone(Exception):
    """The daemon this step was talking to was killed (or died)."""


class SoakError(Exception):
    """The soak cannot go on (the daemon hangs, ...)."""


class Daemon:
    """The real chargerd as a subprocess; `generation` counts its runs."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        self.config_path = workdir / "station.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.socket = Path(config["control"]["socket"])
        self.log_path = workdir / "chargerd.log"
        self.proc: subprocess.Popen | None = None
        self.generation = 0
        self.up = asyncio.Event()
        self.lock = asyncio.Lock()  # a kill never lands in the middle of a control request
        self.unexpected_exits: list[str] = []

    async def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        with self.log_path.open("a") as out:
            out.write(f"\n===== soak: run {self.generation + 1} =====\n")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "chargerd", "run", "--config", str(self.config_path)]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=env,
            )  # fmt: skip
        self.generation += 1
        deadline = time.monotonic() + START_WAIT_S
        while not await asyncio.to_thread(self._answers):
            if self.proc.poll() is not None:
                raise SoakError(f"chargerd exited with {self.proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise SoakError(f"chargerd did not answer on {self.socket} within {START_WAIT_S} s")
            await asyncio.sleep(0.05)
        self.up.set()

    def _answers(self) -> bool:
        try:
            return bool(request(str(self.socket), {"cmd": "status"}, timeout=1).get("ok"))
        except (OSError, ValueError):
            return False

    async def kill(self) -> None:
        async with self.lock:
            self.up.clear()
            assert self.proc is not None
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, 10)
            self.generation += 1  # every step of the killed run now fails with DaemonGone

    async def terminate(self) -> int:
        async with self.lock:
            self.up.clear()
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.to_thread(self.proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -999

    def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def ctl(self, generation: int, *args: str) -> dict[str, Any]:
        """One control request to run `generation`; DaemonGone if that run is over."""
        message: dict[str, Any] = {"cmd": args[0]}
        if args[0] == "sim":
            message["args"] = list(args[1:])
        async with self.lock:
            if generation != self.generation or not self.up.is_set():
                raise DaemonGone()
            for attempt in range(3):
                try:
                    answer = await asyncio.to_thread(request, str(self.socket), message, 5)
                    break
                except (FileNotFoundError, ConnectionRefusedError) as exc:  # not delivered
                    if self.proc is not None and self.proc.poll() is not None:
                        raise DaemonGone() from exc
                    if attempt == 2:
                        raise SoakError(f"control socket refuses {args}: {exc}") from exc
                    await asyncio.sleep(0.2)
                except (OSError, ValueError) as exc:
                    if self.proc is not None and self.proc.poll() is not None:
                        raise DaemonGone() from exc
                    raise SoakError(f"no answer to {args} from a running chargerd: {exc}") from exc
        if not answer.get("ok"):
            raise SoakError(f"chargerctl {' '.join(args)}: {answer}")
        return answer

    async def status(self, generation: int) -> dict[str, Any]:
        return (await self.ctl(generation, "status"))["status"]

    async def connector(self, generation: int, n: int) -> dict[str, Any]:
        status = await self.status(generation)
        return next(c for c in status["connectors"] if c["id"] == n)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
