"""The processes the bench starts and what it reads about them in /proc; the machine."""

from __future__ import annotations

import asyncio
import ctypes
import os
import platform
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

WAIT_S = 10.0  # the longest a single expected reaction may take
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def die_with_parent() -> None:
    """Child side of fork: get SIGTERM if the bench dies without cleaning up (kill -9)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Procs:
    """Every process the bench starts; `cleanup()` stops those still running."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def spawn(self, cmd: list[str], log: Path, cwd: Path) -> subprocess.Popen:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=CHILD_ENV,
                preexec_fn=die_with_parent,
                start_new_session=True,  # a Ctrl-C goes to the bench, which stops them
            )
        self.procs.append(proc)
        return proc

    async def stop(self, proc: subprocess.Popen, timeout: float = WAIT_S) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
                return -9
        return proc.returncode

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


PROCS = Procs()
# Children run as a deployed station does: with compiled bytecode (pip compiles it at
# install). PYTHONDONTWRITEBYTECODE in the caller's environment would make every start
# compile chargerd from source; the cache goes to a temporary prefix
# (PYTHONPYCACHEPREFIX, set by Bench), not into the source tree, and is filled by an
# unmeasured warm-up start of each kind.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONUNBUFFERED"] = "1"


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_ns(pid: int) -> int:
    """Time on CPU of all live threads in ns (/proc/<pid>/task/*/schedstat): finer than
    the clock ticks of /proc/<pid>/stat, used as a cross-check."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            pass
    return total


def cpu_times() -> tuple[int, int]:
    """(all, steal) clock ticks of the machine, from /proc/stat: a virtual machine's CPU
    taken by its host (steal) slows everything measured here."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[0] - before[0]
    return round(100 * (after[1] - before[1]) / total, 2) if total else 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def wakeups(pid: int) -> int:
    """Context switches of all threads: how often the process went to sleep and woke."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def say(text: str) -> None:
    print(text, flush=True)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = subprocess.run(["df", "-T", "/tmp"], capture_output=True, text=True).stdout.split()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "tmp_fs": fs[9] if len(fs) > 9 else "?",
    }


TEMP_DIRS: list[Path] = []  # removed at exit, whatever happens


def remove_temp_dirs() -> None:
    while TEMP_DIRS:
        shutil.rmtree(TEMP_DIRS.pop(), ignore_errors=True)
