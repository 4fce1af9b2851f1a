"""The ledger checks of a 1.6 soak (devcsms.Csms):

- lost: a session the soak saw charging (a transaction with its tag in `chargerctl
  status`), or that the daemon's log says it stored ("transaction ... started ... for
  TAG"), has no transaction at the CSMS; or a transaction at the CSMS was never stopped.
- duplicated: two transactions at the CSMS for one tag (every session has its own tag),
  or the CSMS saw a StartTransaction/StopTransaction twice without having lost its answer
  (a re-send after a lost answer gets the same transaction id and is fine); a
  StartTransaction that reached the CSMS after the daemon had logged its confirmation
  ("transaction ... is N at the CSMS", written after the commit): a real CSMS opens a
  second transaction for it.
- no StopTransaction for an unknown transaction, no protocol violation in the ledger, no
  message given up by the daemon, no traceback in its log, no exit but the soak's kills.
- a MeterValues that arrives after its transaction was stopped is a problem unless every
  value in it had come before (a re-send the CSMS recognises); every transaction's distinct
  readings rise with their timestamps, and no timestamp carries two different readings.
- meter values, exactly where they can be known exactly:
  * meterStart equals the connector's energy_wh that `chargerctl status` showed just
    before the tag was presented (the EV was plugged but nothing flowed: the register
    stands still), when the daemon was not restarted in between;
  * a session stopped by its tag (reason Local) or by unplugging (EVDisconnected) while
    the daemon ran: meterStop equals the connector's energy_wh in `chargerctl status`
    read after the transaction ended plus one meter poll (power is off, the register
    stands still, and the daemon reads it again after switching off);
  * a session cut by kill -9 is stopped at the next start with reason PowerLoss, and its
    meterStop is not below the last MeterValues the CSMS got for it (the simulated meter
    may lose up to a second of energy with the process; the daemon reports the larger);
  * always: meterStop ≥ meterStart and ≥ every energy reading the CSMS got for it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from devcsms import TxRecord

from . import STATION_ID
from .verdict import Outcome, Verdict, daemon_log_findings, reading_problems

EXPECTED_REASON = {"tag": "Local", "unplug": "EVDisconnected"}
CONFIRMED_LINE = re.compile(r"^(\S+ \S+) \S+ +\S+: transaction (\S+) is (\S+) at the CSMS$", re.M)
STARTED_LINE = re.compile(r"transaction (\S+) started on connector (\d+) for (\S+) at (-?\d+) Wh")


def verdict(outcome: Outcome) -> Verdict:
    ledger = outcome.ledger
    sessions = {s.tag: s for s in outcome.sessions}
    mine = [t for t in ledger.transactions.values() if t.station_id == STATION_ID]
    by_tag: dict[str, list[TxRecord]] = defaultdict(list)
    for tx in mine:
        by_tag[tx.id_tag].append(tx)
    found = Verdict(sessions=len(by_tag), problems=list(outcome.problems))
    lost, duplicated, problems = found.lost, found.duplicated, found.problems
    daemon_log = outcome.daemon_log

    # every session the daemon started reached the CSMS ...
    stored = {m.group(3) for m in STARTED_LINE.finditer(daemon_log)}
    for tag in sorted(stored):
        if tag not in sessions:
            problems.append(f"the daemon started a transaction for unknown tag {tag}")
    for s in outcome.sessions:
        if (s.seen_started or s.tag in stored) and s.tag not in by_tag:
            why = "seen charging" if s.seen_started else "stored, says the log"
            lost.append(f"{s.tag} (connector {s.connector}, {why}): no transaction at the CSMS")
    # ... once, and was stopped once
    for tag, txs in sorted(by_tag.items()):
        if tag not in sessions:
            problems.append(f"transaction(s) {[t.transaction_id for t in txs]} for tag {tag}, "
                            "which no session of the soak used")  # fmt: skip
        if len(txs) > 1:
            duplicated.append(
                f"{tag}: {len(txs)} transactions at the CSMS "
                + ", ".join(f"{t.transaction_id} (meterStart {t.meter_start})" for t in txs)
            )
    for tx in mine:
        if tx.stop_count == 0:
            lost.append(f"transaction {tx.transaction_id} ({tx.id_tag}) was never stopped")
    for violation in ledger.violations:
        if "sent twice" in violation or "second StopTransaction" in violation:
            duplicated.append(violation)
        elif not violation.startswith("MeterValues for stopped transaction"):
            problems.append(f"violation: {violation}")  # those: _late_meter_values
    duplicated += _starts_after_confirmation(ledger.entries, daemon_log)
    late_recognised, late_new = _late_meter_values(ledger.entries)
    problems += late_new
    for tx in mine:
        problems += reading_problems(tx.id_tag, tx.meter_values, lambda mv: _energies([mv]))
    for _station, payload in ledger.unknown_stops:
        problems.append(f"StopTransaction for an unknown transaction: {payload}")

    exact_starts, exact_stops, power_loss = _meter_checks(mine, sessions, problems)
    daemon_log_findings(daemon_log, found)

    retried_starts = sum(t.start_count - 1 for t in mine)
    retried_stops = sum(max(0, t.stop_count - 1) for t in mine)
    resent_values = sum(len(t.meter_values) - len(_distinct(t.meter_values)) for t in mine)
    found.details = [
        f"checked exactly: {exact_starts} meterStart, {exact_stops} meterStop; "
        f"{power_loss} PowerLoss stops; re-sent after a lost answer: {retried_starts} "
        f"StartTransaction, {retried_stops} StopTransaction; "
        f"{len(ledger.entries)} ledger entries",
        f"MeterValues re-sent with values the CSMS already had: {resent_values} values, "
        f"{late_recognised} messages after the transaction's stop",
    ]
    return found


def _meter_checks(
    mine: list[TxRecord], sessions: dict[str, Any], problems: list[str]
) -> tuple[int, int, int]:
    """meterStart/meterStop against what the soak read, and the stop reasons; how many
    starts and stops were checked exactly, and how many stops were PowerLoss."""
    exact_starts = exact_stops = power_loss = 0
    for tx in mine:
        s = sessions.get(tx.id_tag)
        if tx.stop_count == 0:
            continue
        if s is not None and tx.connector_id != s.connector:
            problems.append(f"{tx.id_tag}: transaction on connector {tx.connector_id}, "
                            f"the tag was presented on {s.connector}")  # fmt: skip
        seen = _energies(tx.meter_values) + _energies(tx.transaction_data or [])
        if seen and tx.meter_stop < max(seen):
            problems.append(f"{tx.id_tag}: meterStop {tx.meter_stop} below a reading of "
                            f"{max(seen)} Wh the CSMS got for it")  # fmt: skip
        if tx.meter_stop < tx.meter_start:
            problems.append(f"{tx.id_tag}: meterStop {tx.meter_stop} < meterStart "
                            f"{tx.meter_start}")  # fmt: skip
        if tx.stop_reason == "PowerLoss":
            power_loss += 1
        if s is None:
            continue
        if s.energy_before is not None and s.seen_started:
            exact_starts += 1
            if tx.meter_start != s.energy_before:
                problems.append(f"{tx.id_tag}: meterStart {tx.meter_start}, but the meter "
                                f"read {s.energy_before} Wh before the tag")  # fmt: skip
        if s.stop_seen and not s.killed and s.stop_kind is not None:
            expected = EXPECTED_REASON[s.stop_kind]
            if tx.stop_reason != expected:
                problems.append(f"{tx.id_tag}: stop reason {tx.stop_reason}, expected "
                                f"{expected} (stopped by {s.stop_kind})")  # fmt: skip
            elif s.meter_stop is not None:
                exact_stops += 1
                if tx.meter_stop != s.meter_stop:
                    problems.append(
                        f"{tx.id_tag}: meterStop {tx.meter_stop}, but the meter stood at "
                        f"{s.meter_stop} Wh after the stop ({s.stop_kind})"
                    )
        elif s.killed:
            allowed = {"PowerLoss"}
            if s.stop_kind is not None:  # the stop may have been stored before the kill
                allowed.add(EXPECTED_REASON[s.stop_kind])
            if tx.stop_reason not in allowed:
                problems.append(f"{tx.id_tag}: cut by kill -9, stop reason "
                                f"{tx.stop_reason}, expected {sorted(allowed)}")  # fmt: skip
        if tx.stop_reason == "PowerLoss" and not (s.killed or not s.seen_started):
            problems.append(f"{tx.id_tag}: stopped with PowerLoss, but the daemon was not "
                            "killed during it")  # fmt: skip
    return exact_starts, exact_stops, power_loss


def _starts_after_confirmation(entries: list[Any], daemon_log: str) -> list[str]:
    """StartTransactions the CSMS received after the daemon had logged their confirmation
    (the log line follows the commit): a real CSMS counts each as a second transaction."""
    tag_of = {m.group(1): m.group(3) for m in STARTED_LINE.finditer(daemon_log)}
    confirmed: dict[str, tuple[float, str]] = {}  # tag -> first confirmation (time, stamp)
    for m in CONFIRMED_LINE.finditer(daemon_log):
        stamp, tx = m.group(1), m.group(2)
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        tag = tag_of.get(tx)
        if tag is not None and (tag not in confirmed or at < confirmed[tag][0]):
            confirmed[tag] = (at, stamp)
    found = []
    for e in entries:
        if e.kind != "call" or e.direction != "in" or e.action != "StartTransaction":
            continue
        first = confirmed.get(e.payload.get("idTag"))
        if first is not None and e.time > first[0] + 0.001:  # the log stamp is cut to ms
            when = datetime.fromtimestamp(e.time).strftime("%H:%M:%S.%f")[:-3]
            found.append(
                f"StartTransaction for {e.payload['idTag']} reached the CSMS at {when}, "
                f"after the daemon had recorded its confirmation at {first[1]}"
            )
    return found


def _late_meter_values(entries: list[Any]) -> tuple[int, list[str]]:
    """MeterValues that reached the CSMS after their transaction's StopTransaction: how many
    only repeated values it already had (a re-send it recognises), and a problem for each
    that carried a new one."""
    seen: dict[Any, list] = defaultdict(list)
    stopped: set[Any] = set()
    recognised, problems = 0, []
    for e in entries:
        if e.kind != "call" or e.direction != "in" or not isinstance(e.payload, dict):
            continue
        tx_id = e.payload.get("transactionId")
        if e.action == "StopTransaction":
            stopped.add(tx_id)
        elif e.action == "MeterValues" and tx_id is not None:
            values = e.payload["meterValue"]
            if tx_id in stopped:
                new = [v for v in values if v not in seen[tx_id]]
                if new:
                    problems.append(
                        f"MeterValues for transaction {tx_id} after its stop, with "
                        f"{len(new)} reading(s) the CSMS had not had: {new[:2]}"
                    )
                else:
                    recognised += 1
            seen[tx_id].extend(values)
    return recognised, problems


def _distinct(meter_values: list[dict]) -> list[dict]:
    out: list[dict] = []
    for mv in meter_values:
        if mv not in out:
            out.append(mv)
    return out


def _energies(meter_values: list[dict]) -> list[int]:
    """Energy.Active.Import.Register readings (Wh) in a list of MeterValue objects."""
    out = []
    for mv in meter_values:
        for sv in mv.get("sampledValue", []):
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            if measurand == "Energy.Active.Import.Register":
                factor = 1000 if sv.get("unit") == "kWh" else 1
                out.append(round(float(sv["value"]) * factor))
    return out
