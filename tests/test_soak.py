"""Short runs of scripts/soak: the real daemon under kill -9, CSMS outages, dropped
connections and failed transaction messages loses and duplicates no session, in OCPP 1.6
and in 2.0.1 (where no seqNo is reused for another event or left out either)."""

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


def soak(*args: str, timeout: float) -> tuple[dict[str, int], str]:
    """Run scripts/soak; its summary counts, and everything it printed (for a failure)."""
    result = subprocess.run(
        [sys.executable, str(SOAK), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    match = SUMMARY.match(result.stdout.splitlines()[0])
    assert match, report
    return {name: int(value) for name, value in match.groupdict().items()}, report


def test_a_30_second_soak_loses_and_duplicates_nothing() -> None:
    counts, report = soak("--seconds", "30", "--seed", str(SEED), timeout=110)
    assert counts["sessions"] >= 1, report
    assert counts["kills"] >= 1, report
    assert counts["outages"] >= 1, report
    assert counts["lost"] == 0 and counts["duplicated"] == 0, report


def test_a_10_second_201_soak_loses_duplicates_and_skips_nothing() -> None:
    counts, report = soak("--ocpp", "2.0.1", "--seconds", "10", "--seed", str(SEED), timeout=100)
    assert counts["sessions"] >= 1, report
    assert counts["kills"] >= 1, report
    assert counts["outages"] >= 1, report
    assert counts["lost"] == 0 and counts["duplicated"] == 0, report
