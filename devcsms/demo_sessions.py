"""The session `chargerd demo` plays, one per OCPP version: plug, card, charge, a
smart-charging limit from the CSMS, card, unplug; each returns the exit code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from chargerd.daemon import Daemon

from .ledger import LedgerEntry
from .narration import ENERGY, Narrator
from .server import CsmsServer
from .v16 import Csms
from .v201 import Csms201

TAG = "04A2B3C4D5"
HALF_A = 16  # the smart-charging step: the CSMS halves the 32 A mid-session


async def _limit_mid_session(
    csms: CsmsServer, daemon: Daemon, narrator: Narrator, request: dict[str, Any]
) -> bool:
    """The CSMS sends SetChargingProfile; True once the EV's draw has followed."""
    answer = await csms.call(daemon.config.station.id, "SetChargingProfile", request)
    if answer.get("status") != "Accepted":
        print(f"\ndemo failed: SetChargingProfile answered {answer}")
        return False
    await _ev_follows(daemon, narrator, HALF_A)
    return True


async def _ev_follows(daemon: Daemon, narrator: Narrator, amps: float) -> None:
    """Wait until the simulated EV on connector 1 draws `amps` (its meter says so)."""
    deadline = time.monotonic() + 5
    while True:
        reading = daemon.station.readings.get(1)
        drawn = max(reading.current_a) if reading and reading.current_a else 0.0
        if abs(drawn - amps) < 0.1:
            kw = reading.power_w / 1000 if reading else 0.0
            narrator.say(f"The station offers {amps:g} A; the EV now draws {drawn:.1f} A per "
                         f"phase ({kw:.1f} kW)")  # fmt: skip
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the EV draws {drawn:.1f} A, not {amps:g} A")
        await asyncio.sleep(0.1)


def _tx_profile(tx_id: Any, schedule: Any) -> dict[str, Any]:
    """A TxProfile for the running transaction (the id key: 1.6 chargingProfileId, 2.0.1 id)."""
    return {"transactionId": tx_id, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": schedule}  # fmt: skip


def _status16(connector: int, status: str) -> Callable[[LedgerEntry], bool]:
    return lambda e: (
        e.direction == "in"
        and e.action == "StatusNotification"
        and e.payload.get("connectorId") == connector
        and e.payload.get("status") == status
    )


async def session16(
    csms: Csms, daemon: Daemon, sim: Any, narrator: Narrator, charge_s: float
) -> int:
    """Plug, card, charge, card, unplug; the exit code."""
    narrator.say("The station starts and connects to the CSMS")
    await csms.wait_for(lambda e: e.action == "StatusNotification"
                        and e.payload.get("connectorId") == 2, timeout=10)  # fmt: skip
    mark = len(csms.ledger.entries)
    narrator.say("A car is plugged into connector 1")
    sim.plug(1)
    await csms.wait_for(_status16(1, "Preparing"), after=mark)
    narrator.say(f"The driver holds RFID card {TAG} to the reader")
    await daemon.sim_command("tag", [TAG])
    await csms.wait_for(_status16(1, "Charging"), after=mark)
    narrator.say(f"Charging at 32 A on 3 phases for {charge_s} s (meter values every 2 s)")
    await asyncio.sleep(charge_s / 2)
    narrator.say(f"Smart charging: the CSMS limits this transaction to {HALF_A} A (TxProfile)")
    schedule = {"chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": HALF_A}]}  # fmt: skip
    profile = {"chargingProfileId": 1,
               **_tx_profile(next(iter(csms.ledger.transactions)), schedule)}  # fmt: skip
    request = {"connectorId": 1, "csChargingProfiles": profile}
    if not await _limit_mid_session(csms, daemon, narrator, request):
        return 1
    await asyncio.sleep(charge_s / 2)
    narrator.say("The driver holds the card to the reader again to stop")
    await daemon.sim_command("tag", [TAG])
    stop = await csms.wait_for("StopTransaction", after=mark)
    await csms.wait_for(_status16(1, "Finishing"), after=mark)
    narrator.say("The driver unplugs the car")
    sim.unplug(1)
    await csms.wait_for(_status16(1, "Available"), after=mark)
    await asyncio.sleep(0.2)  # let the last answer reach the station before both stop

    tx = csms.ledger.transactions[stop.payload["transactionId"]]
    energy = (tx.meter_stop or 0) - tx.meter_start
    print(f"\nSession done: transaction {stop.payload['transactionId']}, {energy} Wh delivered "
          f"(meter {tx.meter_start} → {tx.meter_stop} Wh).")  # fmt: skip
    if problems_found(csms):
        return 1
    print("The CSMS checked every message against the OCPP 1.6 schemas: no problems.")
    print("Next: `chargerd run --config config/sim.yaml` with `scripts/dev-csms`, "
          "and drive it with `chargerctl --socket state/control.sock sim plug 1`.")  # fmt: skip
    return 0


def _event201(kind: str, **info: Any) -> Callable[[LedgerEntry], bool]:
    def matches(e: LedgerEntry) -> bool:
        return (
            e.direction == "in"
            and e.kind == "call"
            and e.action == "TransactionEvent"
            and e.payload.get("eventType") == kind
            and all(e.payload["transactionInfo"].get(k) == v for k, v in info.items())
        )

    return matches


def _status201(evse: int, status: str) -> Callable[[LedgerEntry], bool]:
    return lambda e: (
        e.direction == "in"
        and e.action == "StatusNotification"
        and e.payload.get("evseId") == evse
        and e.payload.get("connectorStatus") == status
    )


async def session201(
    csms: Csms201, daemon: Daemon, sim: Any, narrator: Narrator, charge_s: float
) -> int:
    """Plug, card, charge, card, unplug; the exit code."""
    narrator.say("The station starts and connects to the CSMS")
    await csms.wait_for(_status201(2, "Available"), timeout=10)
    mark = len(csms.ledger.entries)
    narrator.say("A car is plugged into EVSE 1")
    sim.plug(1)
    await csms.wait_for(_status201(1, "Occupied"), after=mark)
    narrator.say(f"The driver holds RFID card {TAG} to the reader")
    await daemon.sim_command("tag", [TAG])
    started = await csms.wait_for(_event201("Started"), after=mark)
    await csms.wait_for(_event201("Updated", chargingState="Charging"), after=mark)
    narrator.say(f"Charging at 32 A on 3 phases for {charge_s:.0f} s (meter values every 2 s)")
    await asyncio.sleep(charge_s / 2)
    narrator.say(f"Smart charging: the CSMS limits this transaction to {HALF_A} A (TxProfile)")
    schedule = [{"id": 1, "chargingRateUnit": "A",
                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": HALF_A}]}]  # fmt: skip
    tx_id = started.payload["transactionInfo"]["transactionId"]
    request = {"evseId": 1, "chargingProfile": {"id": 1, **_tx_profile(tx_id, schedule)}}
    if not await _limit_mid_session(csms, daemon, narrator, request):
        return 1
    await asyncio.sleep(charge_s / 2)
    narrator.say("The driver holds the card to the reader again to stop")
    await daemon.sim_command("tag", [TAG])
    await csms.wait_for(_event201("Ended"), after=mark)
    narrator.say("The driver unplugs the car")
    sim.unplug(1)
    await csms.wait_for(_status201(1, "Available"), after=mark)
    await asyncio.sleep(0.2)  # let the last answer reach the station before both stop

    tx_id = started.payload["transactionInfo"]["transactionId"]
    tx = csms.ledger.transactions[tx_id]
    readings = [
        float(v["value"])
        for mv in tx.meter_values
        for v in mv["sampledValue"]
        if v.get("measurand", ENERGY) == ENERGY
    ]
    energy = round(max(readings) - min(readings)) if readings else 0
    print(
        f"\nSession done: transaction {tx_id}, {energy} Wh delivered in {len(tx.events)} "
        f"TransactionEvents (seqNo {tx.seq_nos[0]}..{tx.seq_nos[-1]})."
    )
    if problems_found(csms):
        return 1
    print("The CSMS checked every message against the OCPP 2.0.1 schemas and the seqNo rules: "
          "no problems.")  # fmt: skip
    print("Next: `chargerd run --config config/sim.yaml` (csms.ocpp_version: \"2.0.1\") with "
          "`scripts/dev-csms --ocpp 2.0.1`.")  # fmt: skip
    return 0


def problems_found(csms: CsmsServer) -> bool:
    problems = csms.ledger.violations
    if problems:
        print(f"The CSMS found {len(problems)} protocol problem(s): {problems}")
    return bool(problems)
