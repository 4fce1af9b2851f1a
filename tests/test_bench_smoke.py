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
