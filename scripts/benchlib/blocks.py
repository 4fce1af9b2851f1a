"""Group blocks: the resident memory of a station as deployed (TLS, security profile 2)
after every feature block was used once, for OCPP 2.0.1 and 1.6.

scripts/bench_blocks.py does the measuring (its own TLS CSMS, PKI and file server on this
loop, its own daemon process, stopped in its `finally`); this group runs it for both
versions and reports the larger RSS after the blocks against the same budget as rss_mb.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

from . import ROOT
from .procs import BenchError, say

if TYPE_CHECKING:
    from .bench import Bench

VERSIONS = ("2.0.1", "1.6")


async def compile_daemon_sources() -> None:
    """Fill the bytecode cache the measured daemon uses (bench_blocks starts it with the
    bench's own environment, so the cache next to the sources), as pip fills it on a
    station: a daemon that compiles its modules at start-up keeps several MB more RSS,
    and other engineers' edits leave parts of that cache stale."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "compileall", "-q", "chargerd", "hal", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    if await proc.wait() != 0:
        raise BenchError(f"blocks: compileall of chargerd and hal exited with {proc.returncode}")


async def blocks(bench: Bench) -> None:
    """rss_blocks_mb: the larger of the two versions' VmRSS once the blocks settled;
    rss_blocks_cryptography_mapped: cryptography's Rust extension (its own OpenSSL) was in
    either daemon after the blocks or after the sessions that follow them."""
    # imported here: it brings the TLS CSMS, which no other group needs
    from bench_blocks import measure_async

    sessions = bench.n(100, 10)
    await compile_daemon_sources()
    results: dict[str, dict[str, Any]] = {}
    for version in VERSIONS:
        say(f"blocks: OCPP {version} station on security profile 2, every block once, "
            f"then {sessions} sessions")  # fmt: skip
        try:
            result = await measure_async(version, sessions, keep=bench.args.keep)
        except (RuntimeError, TimeoutError, OSError) as exc:
            raise BenchError(f"blocks, OCPP {version}: {exc}") from None
        results[version] = result
        bench.violations += [f"blocks {version}: {v}" for v in result.get("violations", [])]
        mapped = result["cryptography_after_blocks"] or result["cryptography_after_sessions"]
        say(f"  {version}: RSS after boot {result['rss_boot_mb']:.1f} MB, after the blocks "
            f"{result['rss_blocks_mb']:.1f} MB, after {sessions} sessions "
            f"{result['rss_sessions_mb']:.1f} MB; cryptography mapped: "
            f"{'yes' if mapped else 'no'}")  # fmt: skip
        steps = result.get("rss_after_each_block_mb", {})
        if steps:
            say(f"  {version}: MB after each block: "
                f"{', '.join(f'{name} {mb:.1f}' for name, mb in steps.items())}")  # fmt: skip
        if "directory" in result:
            say(f"  {version}: the daemon's log and state kept in {result['directory']}")
    bench.results["rss_blocks_mb"] = max(r["rss_blocks_mb"] for r in results.values())
    bench.results["rss_blocks_cryptography_mapped"] = any(
        r["cryptography_after_blocks"] or r["cryptography_after_sessions"] for r in results.values()
    )
    bench.details["blocks"] = results
