"""The ledger checks of a 2.0.1 soak (devcsms.Csms201: transactions by transactionId, each
with its TransactionEvents, the seqNos as received, and `violations`):

- lost: a session the soak saw charging (a transaction with its token in `chargerctl
  status`), or that the daemon's log says it stored ("transaction ... started on EVSE ...
  for TOKEN"), has no Started at the CSMS; or a transaction at the CSMS never Ended; or
  the daemon gave up a message.
- duplicated: two transactions at the CSMS for one token (every session has its own);
  a seqNo seen twice with different content, or twice in one connection although its
  answer was not lost, or a second Started; a gap at the end: after the quiet period every
  transaction's seqNos are 0..n without holes (a fold of queued events must renumber what
  follows, durably).
- problems: any other violation the CSMS flagged (an event of an unknown or ended
  transaction, a seqNo that arrived out of order, ...); a transaction for a token no
  session used, or on another EVSE than the token was presented on; a traceback in the
  daemon's log, an exit but the soak's kills.
- meter values (Energy.Active.Import.Register):
  * the Transaction.End reading of the Ended event (when sent) is not below any reading
    the CSMS got for the transaction before it, nor below its Transaction.Begin;
  * a transaction's distinct readings rise with their timestamps, and no timestamp
    carries two different readings (a re-send repeats a reading, never changes it);
  * exactly where it can be known: the Started's Transaction.Begin reading equals the
    connector's energy_wh in `chargerctl status` before the token was presented; a
    session ended by its token or by unplugging while the daemon ran ends with the
    energy_wh `chargerctl status` showed after it (as in the 1.6 checks).
- how it ended: by the token stoppedReason Local / triggerReason StopAuthorized, by
  unplugging EVDisconnected / EVCommunicationLost; cut by kill -9 (or a power cut): ended
  at the next start with PowerLoss / AbnormalCondition (or the stop's own reason, when it
  was stored before the kill); PowerLoss only when the daemon was killed during it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from devcsms import Tx201

from . import STATION_ID
from .sessions import SESSION_START_S, Session
from .verdict import Outcome, Verdict, daemon_log_findings, reading_problems

ENERGY = "Energy.Active.Import.Register"
# how a session was stopped -> (stoppedReason, triggerReason) of its Ended event
EXPECTED_END = {
    "tag": ("Local", "StopAuthorized"),
    "unplug": ("EVDisconnected", "EVCommunicationLost"),
}
POWER_LOSS = ("PowerLoss", "AbnormalCondition")
DUPLICATE_VIOLATIONS = ("reused for a different event", "sent twice", "a second Started")
STARTED_LINE = re.compile(r"transaction (\S+) started on EVSE (\d+) for (\S+) at (-?\d+) Wh")


def verdict(outcome: Outcome) -> Verdict:
    ledger = outcome.ledger
    sessions = {s.tag: s for s in outcome.sessions}
    mine: list[Tx201] = [t for t in ledger.transactions.values() if t.station_id == STATION_ID]
    by_token: dict[str | None, list[Tx201]] = defaultdict(list)
    for tx in mine:
        by_token[token_of(tx)].append(tx)
    found = Verdict(sessions=len(by_token), problems=list(outcome.problems))
    lost, duplicated, problems = found.lost, found.duplicated, found.problems

    # every session the daemon started reached the CSMS ...
    stored = {m.group(3) for m in STARTED_LINE.finditer(outcome.daemon_log)}
    for token in sorted(stored - set(sessions)):
        problems.append(f"the daemon started a transaction for unknown token {token}")
    for s in outcome.sessions:
        if (s.seen_started or s.tag in stored) and s.tag not in by_token:
            why = "seen charging" if s.seen_started else "stored, says the log"
            lost.append(f"{s.tag} (connector {s.connector}, {why}): no Started at the CSMS")
    # ... as one transaction, which Ended, numbered 0..n
    for token, txs in sorted(by_token.items(), key=lambda item: str(item[0])):
        if token not in sessions:
            problems.append(f"transaction(s) {[t.transaction_id for t in txs]} for token "
                            f"{token}, which no session of the soak used")  # fmt: skip
        if len(txs) > 1:
            duplicated.append(f"{token}: {len(txs)} transactions at the CSMS "
                              f"{[t.transaction_id for t in txs]}")  # fmt: skip
    for tx in mine:
        if not tx.ended:
            lost.append(f"transaction {tx.transaction_id} ({token_of(tx)}) never Ended "
                        f"(seqNos {sorted(set(tx.seq_nos))})")  # fmt: skip
        numbers = sorted(set(tx.seq_nos))
        if numbers != list(range(len(numbers))):
            missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
            duplicated.append(f"transaction {tx.transaction_id} ({token_of(tx)}): seqNos "
                              f"{numbers}, {missing} never came")  # fmt: skip
    for violation in ledger.violations:
        if any(kind in violation for kind in DUPLICATE_VIOLATIONS):
            duplicated.append(violation)
        else:
            problems.append(f"violation: {violation}")

    exact_begins = exact_ends = power_loss = 0
    for tx in mine:
        problems += reading_problems(token_of(tx), tx.meter_values, _energies)
        problems += _end_reading_problems(tx)
        s = sessions.get(token_of(tx) or "")
        if tx.stopped_reason == "PowerLoss":
            power_loss += 1
        if s is None or not tx.ended:
            continue
        begins, ends = _session_checks(tx, s, problems)
        exact_begins += begins
        exact_ends += ends
    daemon_log_findings(outcome.daemon_log, found)

    events = sum(len(t.events) for t in mine)
    repeats = sum(len(t.seq_nos) - len(set(t.seq_nos)) for t in mine)
    folded = [e for t in mine for e in t.events if _folded(e)]
    offline = sum(len(t.offline_seq_nos) for t in mine)
    not_started = sum(s.note == "did not start" for s in outcome.sessions)
    found.details = [
        f"checked exactly: {exact_begins} Transaction.Begin, {exact_ends} Transaction.End; "
        f"{power_loss} PowerLoss ends; {events} TransactionEvents, {repeats} of them "
        f"received again (same seqNo, same content); {len(ledger.entries)} ledger entries",
        f"replay: {len(folded)} folded MeterValuePeriodic events carrying "
        f"{sum(len(e['meterValue']) for e in folded)} meter values; {offline} events "
        f"flagged offline; {not_started} sessions did not start within "
        f"{SESSION_START_S:g} s of the token",
    ]
    return found


def token_of(tx: Tx201) -> str | None:
    """The transaction's idToken: in its Started, or the first event that carries one."""
    if tx.id_token is not None:
        return tx.id_token
    return next((e["idToken"]["idToken"] for e in tx.events if "idToken" in e), None)


def _session_checks(tx: Tx201, s: Session, problems: list[str]) -> tuple[int, int]:
    """The EVSE, the Begin and End readings against what the soak read, and how it ended;
    how many Begin and End readings were checked exactly."""
    begins = ends = 0
    if tx.evse_id != s.connector:
        problems.append(f"{s.tag}: transaction on EVSE {tx.evse_id}, the token was presented "
                        f"on {s.connector}")  # fmt: skip
    begin = _readings(tx.events[0], "Transaction.Begin") if tx.events else []
    if s.energy_before is not None and s.seen_started and begin:
        begins = 1
        if begin[0] != s.energy_before:
            problems.append(f"{s.tag}: Transaction.Begin {begin[0]} Wh, but the meter read "
                            f"{s.energy_before} Wh before the token")  # fmt: skip
    ended = ended_event(tx)
    how = (tx.stopped_reason, ended["triggerReason"])
    end = _readings(ended, "Transaction.End")
    if s.stop_seen and not s.killed and s.stop_kind is not None:
        expected = EXPECTED_END[s.stop_kind]
        if how != expected:
            problems.append(f"{s.tag}: ended {how}, expected {expected} (stopped by "
                            f"{s.stop_kind})")  # fmt: skip
        elif s.meter_stop is not None and end:
            ends = 1
            if end[-1] != s.meter_stop:
                problems.append(f"{s.tag}: Transaction.End {end[-1]} Wh, but the meter stood at "
                                f"{s.meter_stop} Wh after the stop ({s.stop_kind})")  # fmt: skip
    elif s.killed:
        allowed = {POWER_LOSS}
        if s.stop_kind is not None:  # the stop may have been stored before the kill
            allowed.add(EXPECTED_END[s.stop_kind])
        if how not in allowed:
            problems.append(f"{s.tag}: cut by kill -9, ended {how}, expected one of "
                            f"{sorted(allowed)}")  # fmt: skip
    if tx.stopped_reason == "PowerLoss" and not (s.killed or not s.seen_started):
        problems.append(f"{s.tag}: ended with PowerLoss, but the daemon was not killed "
                        "during it")  # fmt: skip
    return begins, ends


def _end_reading_problems(tx: Tx201) -> list[str]:
    """The Ended event's Transaction.End reading is not below any reading before it."""
    if not tx.ended:
        return []
    ended = ended_event(tx)
    end = _readings(ended, "Transaction.End")
    earlier = [v for e in tx.events[: tx.events.index(ended)] for v in _readings(e)]
    earlier += _readings(ended, "Transaction.Begin")
    if end and earlier and min(end) < max(earlier):
        return [f"{token_of(tx)}: Transaction.End {min(end)} Wh below a reading of "
                f"{max(earlier)} Wh the CSMS got for transaction {tx.transaction_id}"]  # fmt: skip
    return []


def ended_event(tx: Tx201) -> dict[str, Any]:
    """The Ended event of an ended transaction (the ledger keeps, and flags, any after it)."""
    return next(e for e in tx.events if e["eventType"] == "Ended")


def _readings(event: dict[str, Any], context: str | None = None) -> list[int]:
    """Energy readings (Wh) in an event's meterValue, of one reading context or all."""
    return [v for mv in event.get("meterValue", []) for v in _energies(mv, context)]


def _energies(mv: dict[str, Any], context: str | None = None) -> list[int]:
    out = []
    for sv in mv.get("sampledValue", []):
        if sv.get("measurand", ENERGY) != ENERGY or "phase" in sv:
            continue
        if context is not None and sv.get("context", "Sample.Periodic") != context:
            continue
        unit = sv.get("unitOfMeasure", {})
        factor = (1000 if unit.get("unit") == "kWh" else 1) * 10 ** unit.get("multiplier", 0)
        out.append(round(float(sv["value"]) * factor))
    return out


def _folded(event: dict[str, Any]) -> bool:
    """An Updated MeterValuePeriodic event that carries several samples: a fold."""
    return (
        event["eventType"] == "Updated"
        and event["triggerReason"] == "MeterValuePeriodic"
        and len(event.get("meterValue", [])) > 1
    )
