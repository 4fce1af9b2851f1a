"""The benchmark of scripts/bench, by concern (the script itself is the command line):

- procs.py        the processes the bench starts, what /proc says about them, the machine
- csms.py         the dev CSMS with the bench's hook (Watch), readers of its ledger (Drain)
- station.py      a station process (chargerd or the baseline CP) and its control socket
- bench.py        one run: the groups in order, shared state, the figures; amain
- startup.py      groups: the warm-up start, cold_start
- station_run.py  groups: idle, charging, latency, sessions
- replay.py       group: replay (an offline backlog against the bare-loop bounds)
- drain_day.py    group: drain_day (a day offline through a CSMS 50 ms away)
- blocks.py       group: blocks (RSS with every feature block used, scripts/bench_blocks.py)
- spy.py          --py-spy profiles of the measured windows
- report.py       the budgets (TARGETS) and the table printed at the end

scripts/bench puts the repository root and scripts/ on sys.path before importing this.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
