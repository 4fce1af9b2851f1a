"""The budgets and the table of figures printed at the end of a run."""

from __future__ import annotations

from typing import Any

TARGETS = {  # figure: (target text, passes(value) -> bool, or None: no target) — the budgets
    "cold_start_s": ("≤ 0.5 s", lambda v: v <= 0.5),
    "idle_cpu_pct": ("≤ 0.2 %", lambda v: v <= 0.2),
    "charging_cpu_pct": ("", None),
    "rss_mb": ("≤ 40 MB", lambda v: v <= 40),
    "rss_growth_mb": ("no growth (≤ 1 MB)", lambda v: v <= 1.0),
    "latency_p50_ms": ("", None),
    "latency_p99_ms": ("≤ 5 ms", lambda v: v <= 5),
    "rss_blocks_mb": ("≤ 40 MB", lambda v: v <= 40),
}


def table(r: dict[str, Any], b: dict[str, Any], details: dict[str, Any]) -> str:
    """The figures as the table printed at the end: value, baseline, ratio, target, verdict."""
    rows = [("figure", "chargerd", "baseline", "ratio", "target", "")]

    def fmt(v: Any) -> str:
        return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    for key in ("cold_start_s", "idle_cpu_pct", "charging_cpu_pct", "rss_mb",
                "rss_growth_mb", "latency_p50_ms", "latency_p99_ms"):  # fmt: skip
        v, bv = r.get(key), b.get(key)
        if v is None:
            continue
        ratio = f"{v / bv:.1f}×" if bv else "-"
        target, check = TARGETS[key]
        verdict = "" if check is None else ("ok" if check(v) else "MISS")
        rows.append((key, fmt(v), fmt(bv), ratio, target, verdict))
    if "rss_blocks_mb" in r:
        v = r["rss_blocks_mb"]
        target, check = TARGETS["rss_blocks_mb"]
        each = ", ".join(f"{version} {result['rss_blocks_mb']:g}"
                         for version, result in details["blocks"].items())  # fmt: skip
        rows.append(("rss_blocks_mb", fmt(v), "", f"every block once, profile 2: {each}",
                     target, "ok" if check(v) else "MISS"))  # fmt: skip
        mapped = r["rss_blocks_cryptography_mapped"]
        rows.append(("rss_blocks_cryptography_mapped", "yes" if mapped else "no", "",
                     "cryptography's OpenSSL in the daemon", "", ""))  # fmt: skip
    if "replay_msgs_per_s" in r:
        pct = r["replay_pct"]  # median of the rounds' own ratios
        rows.append(("replay_msgs_per_s", fmt(r["replay_msgs_per_s"]), "",
                     f"{pct:g} % of bound", "≥ 70 % of bound",
                     "ok" if pct >= 70 else "MISS"))  # fmt: skip
        rows.append(("replay_calls_per_s", fmt(r["replay_calls_per_s"]), "",
                     f"{r['replay_same_calls_pct']:g} % of the same CALLs bare",
                     f"backlog {r['replay_backlog']}: outage, 2 charging", ""))  # fmt: skip
        rows.append(("replay_bound_msgs_per_s", fmt(r["replay_bound_msgs_per_s"]), "",
                     "bare Heartbeat loop", "", ""))  # fmt: skip
    if "replay_pairs_msgs_per_s" in r:
        rows.append(("replay_pairs_msgs_per_s", fmt(r["replay_pairs_msgs_per_s"]),
                     fmt(b.get("replay_pairs_msgs_per_s")),
                     f"{r['replay_pairs_pct']:g} % of bound, "
                     f"{r['replay_pairs_same_calls_pct']:g} % of the same CALLs bare",
                     f"backlog {r['replay_pairs_backlog']}: Start/Stop pairs", ""))  # fmt: skip
    if "replay_unbatched_msgs_per_s" in r:
        rows.append(("replay_unbatched_msgs_per_s", fmt(r["replay_unbatched_msgs_per_s"]), "",
                     f"{r['replay_unbatched_pct']:g} % of bound, "
                     f"{r['replay_unbatched_same_calls_pct']:g} % of the same CALLs bare",
                     "replay_batch=1", ""))  # fmt: skip
    if "drain_day_calls" in r:
        v = r["drain_day_s"]
        rows.append(("drain_day_s", fmt(v) if v is not None else "not drained", "",
                     f"{r['drain_day_msgs']} msgs, {r['drain_day_calls']} CALLs, "
                     f"rtt {r['drain_day_rtt_ms']:g} ms, station "
                     f"{r['drain_day_station_s']:g} s", "< 60 s",
                     "ok" if v is not None and v < 60 else "MISS"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
