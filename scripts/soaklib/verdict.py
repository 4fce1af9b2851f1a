"""The verdict of a soak: what it found (lost, duplicated, other problems) and how it is
printed. The checks themselves are per OCPP version (verdict16.py, verdict201.py); what
they share (the daemon's log, the summary line) is here.

The first line is `N sessions, K kills, O outages: L lost, D duplicated` (`power cuts`
instead of `kills` with --power-cut); tests/test_soak.py and tests/test_powercut.py read it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .chaos import Counters
from .sessions import Session

SUMMARY = "{sessions} sessions, {kills} kills, {outages} outages: {lost} lost, {dup} duplicated"
SUMMARY_CUTS = (
    "{sessions} sessions, {kills} power cuts, {outages} outages: {lost} lost, {dup} duplicated"
)
SHOWN = 40  # items of each kind printed


@dataclass
class Outcome:
    """What a finished soak hands to the checks."""

    ledger: Any  # the CSMS's ledger (devcsms Ledger16 or Ledger201)
    sessions: list[Session]
    problems: list[str]  # found while running (exit codes, a daemon that hung, ...)
    daemon_log: str
    counters: Counters
    seed: int
    seconds: float
    power_cut: bool
    workdir: Path


@dataclass
class Verdict:
    sessions: int  # sessions the CSMS saw (one tag each)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # the version's lines under the summary

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.duplicated or self.problems)


def daemon_log_findings(daemon_log: str, verdict: Verdict) -> None:
    """A message the daemon gave up is lost; a traceback in its log is a problem."""
    for line in daemon_log.splitlines():
        if "given up after" in line:
            verdict.lost.append(f"the daemon gave up a message: {line.strip()}")
    tracebacks = daemon_log.count("Traceback (most recent call last)")
    if tracebacks:
        verdict.problems.append(f"the daemon's log holds {tracebacks} traceback(s)")


def print_verdict(outcome: Outcome, verdict: Verdict) -> int:
    """The report on stdout; the exit code: 0 when nothing was found, 1 otherwise."""
    c = outcome.counters
    summary = SUMMARY_CUTS if outcome.power_cut else SUMMARY
    print(summary.format(sessions=verdict.sessions, kills=c.kills, outages=c.outages,
                         lost=len(verdict.lost), dup=len(verdict.duplicated)))  # fmt: skip
    failures = ", ".join(f"{k} ×{v}" for k, v in sorted(c.failures.items())) or "none"
    print(
        f"  seed {outcome.seed}, {outcome.seconds:g} s; {len(outcome.sessions)} sessions begun; "
        f"{c.kills_offline} kills while the CSMS was away; {c.disconnects} dropped "
        f"connections; injected failures: {failures}"
    )
    for line in verdict.details:
        print(f"  {line}")
    if outcome.power_cut:
        print(
            f"  power cuts: {c.cuts_in_replay} mid-replay, {c.kills_offline} while the CSMS "
            f"was away; {c.bytes_dropped // 1024} KiB of unsynced data lost, "
            f"{c.blocks_kept} blocks of it written by a cut before the loss"
        )
    kinds = (("LOST", verdict.lost), ("DUPLICATED", verdict.duplicated),
             ("PROBLEM", verdict.problems))  # fmt: skip
    for title, items in kinds:
        for item in items[:SHOWN]:
            print(f"{title}: {item}")
        if len(items) > SHOWN:
            print(f"{title}: ... and {len(items) - SHOWN} more")
    if verdict.failed:
        print(f"logs kept in {outcome.workdir} (chargerd.log, csms.log)")
    return 1 if verdict.failed else 0


def reading_problems(
    who: str, meter_values: list[dict], energies: Callable[[dict], list[int]]
) -> list[str]:
    """A transaction's distinct energy readings (`energies` of each MeterValue, Wh) rise with
    their timestamps; no timestamp carries two different readings (a re-send must repeat a
    reading, not change it). `who` names the transaction in the problems."""
    by_time: dict[datetime, set[int]] = defaultdict(set)
    for mv in meter_values:
        at = datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00"))
        by_time[at].update(energies(mv))
    problems: list[str] = []
    last: int | None = None
    for at in sorted(by_time):
        values = by_time[at]
        if len(values) > 1:
            problems.append(f"{who}: different readings {sorted(values)} Wh at {at}")
        if values and last is not None and min(values) < last:
            problems.append(f"{who}: reading {min(values)} Wh at {at} below an earlier {last} Wh")
        if values:
            last = max(values) if last is None else max(last, *values)
    return problems
