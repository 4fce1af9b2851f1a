"""A short run of scripts/soak: the real daemon under kill -9, CSMS outages, dropped
connections and failed transaction messages loses and duplicates no session."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOAK = ROOT / "scripts" / "soak"
SEED = 20240611
SUMMARY = re.compile(
    r"^(?P<sessions>\d+) sessions, (?P<kills>\d+) kills, (?P<outages>\d+) outages: "
    r"(?P<lost>\d+) lost, (?P<duplicated>\d+) duplicated$"
)


def test_a_30_second_soak_loses_and_duplicates_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "30", "--seed", str(SEED)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
    )
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    match = SUMMARY.match(result.stdout.splitlines()[0])
    assert match, report
    counts = {name: int(value) for name, value in match.groupdict().items()}
    assert counts["sessions"] >= 1, report
    assert counts["kills"] >= 1, report
    assert counts["outages"] >= 1, report
    assert counts["lost"] == 0 and counts["duplicated"] == 0, report
