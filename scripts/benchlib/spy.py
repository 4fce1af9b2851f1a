"""--py-spy DIR: profiles of the daemon during the measured windows."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .procs import die_with_parent, say

if TYPE_CHECKING:
    from .station import Station


class Spy:
    """--py-spy DIR: sample a station process with py-spy during one measured window.

    Writes DIR/<name>.txt (collapsed stacks, for flamegraph tools) and
    DIR/<name>.summary.txt (functions by own and by inclusive samples). py-spy pauses
    the process for each sample, so figures of a profiled run are not the real ones.
    """

    def __init__(self, directory: Path | None) -> None:
        self.dir = directory
        self.exe = shutil.which(
            "py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        )
        if directory is not None:
            if self.exe is None:
                raise SystemExit("bench: --py-spy needs py-spy (.venv/bin/pip install py-spy)")
            directory.mkdir(parents=True, exist_ok=True)

    async def start(self, station: Station, name: str, idle: bool = False) -> Any:
        if self.dir is None or station.kind != "chargerd":
            return None
        out = self.dir / f"{name}.txt"
        cmd = [self.exe, "record", "--pid", str(station.pid), "--rate", "500",
               "--format", "raw", "--output", str(out)] + (["--idle"] if idle else [])  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        await asyncio.sleep(0.5)  # attached
        return (proc, out)

    async def stop(self, handle: Any) -> None:
        if handle is None:
            return
        proc, out = handle
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            return
        if out.exists():
            out.with_suffix(".summary.txt").write_text(summarize_stacks(out))
            say(f"  py-spy: {out} and {out.with_suffix('.summary.txt').name}")


IDLE_WORKER = "_worker (concurrent/futures/thread.py"


def summarize_stacks(path: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if frames and frames[-1].startswith(IDLE_WORKER):
            continue  # an idle thread-pool worker (with --idle), not the daemon's time
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{path.name}: {total} samples", "", "own samples (where the time is spent):"]
    lines += [f"{100 * n / total:6.1f} %  {f}" for f, n in own.most_common(top)] if total else []
    lines += ["", "inclusive samples (the function or what it calls):"]
    lines += (
        [f"{100 * n / total:6.1f} %  {f}" for f, n in inclusive.most_common(top)] if total else []
    )
    return "\n".join(lines) + "\n"
