"""scripts/bench still runs: its quickest group against the real daemon, JSON keys present."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="scripts/bench reads /proc (Linux)"
)


def test_bench_cold_start_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench"), "--quick", "--only", "cold_start",
         "--json", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert 0 < figures["cold_start_s"] < 10
    assert 0 < figures["cold_start_rss_mb"] < 500
    assert 0 < figures["baseline"]["cold_start_s"] < 10
    assert figures["details"]["csms_violations"] == []
    assert "cold_start_s" in run.stdout  # the table


@pytest.mark.timeout(300)
def test_bench_blocks_quick_reports_the_larger_rss_of_both_versions(tmp_path: Path) -> None:
    """The blocks group runs scripts/bench_blocks.py for a 2.0.1 and a 1.6 station on
    profile 2 and reports the larger RSS after the blocks against the 40 MB budget."""
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench"), "--quick", "--only", "blocks",
         "--no-baseline", "--json", str(out)],
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    blocks = figures["details"]["blocks"]
    assert sorted(blocks) == ["1.6", "2.0.1"]
    assert all(b["sessions"] == 10 for b in blocks.values())  # fewer with --quick
    assert 0 < figures["rss_blocks_mb"] < 500
    assert figures["rss_blocks_mb"] == max(b["rss_blocks_mb"] for b in blocks.values())
    assert isinstance(figures["rss_blocks_cryptography_mapped"], bool)
    assert figures["details"]["csms_violations"] == []
    row = next(line for line in run.stdout.splitlines() if line.startswith("rss_blocks_mb "))
    assert "≤ 40 MB" in row
    assert row.rstrip().endswith("ok" if figures["rss_blocks_mb"] <= 40 else "MISS")
