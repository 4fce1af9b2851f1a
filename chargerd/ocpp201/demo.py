"""The OCPP 2.0.1 part of `chargerd demo --ocpp 2.0.1`: one-line summaries of 2.0.1
messages and the scripted session (chargerd/demo.py runs it and prints)."""

from __future__ import annotations

import asyncio
from typing import Any

ENERGY = "Energy.Active.Import.Register"


def answer(p: dict[str, Any]) -> str:
    if "idTokenInfo" in p:
        return f"card {p['idTokenInfo'].get('status')}"
    if "status" in p:
        return str(p["status"]) + (f", heartbeat {p['interval']} s" if "interval" in p else "")
    return "ok"


def _values(meter_values: list[dict]) -> dict[str, Any]:
    return {
        v.get("measurand", ENERGY): v["value"]
        for mv in meter_values
        for v in mv.get("sampledValue", [])
        if not v.get("phase")
    }


def summarise(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification":
        return f"EVSE {p.get('evseId')}: {p.get('connectorStatus')}"
    if action == "TransactionEvent":
        info = p["transactionInfo"]
        text = f"{p['eventType']} #{p['seqNo']} ({p['triggerReason']})"
        if "chargingState" in info:
            text += f" {info['chargingState']}"
        if "stoppedReason" in info:
            text += f", reason {info['stoppedReason']}"
        values = _values(p.get("meterValue", [])[-1:])
        if ENERGY in values:
            text += f", meter {values[ENERGY]} Wh"
        if "Power.Active.Import" in values:
            text += f", {float(values['Power.Active.Import']) / 1000:.1f} kW"
        return text
    if action == "MeterValues":
        return f"EVSE {p.get('evseId')}: meter {_values(p.get('meterValue', [])).get(ENERGY)} Wh"
    if action == "BootNotification":
        station = p.get("chargingStation", {})
        return f"{station.get('vendorName')} {station.get('model')} ({p.get('reason')})"
    if action == "Authorize":
        return f"card {p.get('idToken', {}).get('idToken')}"
    if action == "NotifyEvent":
        data = p.get("eventData", [{}])[0]
        return f"{data.get('component', {}).get('name')} {data.get('variable', {}).get('name')}"
    return ""


def _event(kind: str, **info: Any):
    def matches(e: Any) -> bool:
        return (
            e.direction == "in"
            and e.kind == "call"
            and e.action == "TransactionEvent"
            and e.payload.get("eventType") == kind
            and all(e.payload["transactionInfo"].get(k) == v for k, v in info.items())
        )

    return matches


def _status_is(evse: int, status: str):
    return lambda e: (
        e.direction == "in"
        and e.action == "StatusNotification"
        and e.payload.get("evseId") == evse
        and e.payload.get("connectorStatus") == status
    )


async def session(csms: Any, daemon: Any, sim: Any, narrator: Any, tag: str, charge_s: float):
    """Plug, card, charge, card, unplug; the exit code."""
    narrator.say("The station starts and connects to the CSMS")
    await csms.wait_for(_status_is(2, "Available"), timeout=10)
    mark = len(csms.ledger.entries)
    narrator.say("A car is plugged into EVSE 1")
    sim.plug(1)
    await csms.wait_for(_status_is(1, "Occupied"), after=mark)
    narrator.say(f"The driver holds RFID card {tag} to the reader")
    daemon.sim_command("tag", [tag])
    started = await csms.wait_for(_event("Started"), after=mark)
    await csms.wait_for(_event("Updated", chargingState="Charging"), after=mark)
    narrator.say(f"Charging at 32 A on 3 phases for {charge_s:.0f} s (meter values every 2 s)")
    await asyncio.sleep(charge_s)
    narrator.say("The driver holds the card to the reader again to stop")
    daemon.sim_command("tag", [tag])
    await csms.wait_for(_event("Ended"), after=mark)
    narrator.say("The driver unplugs the car")
    sim.unplug(1)
    await csms.wait_for(_status_is(1, "Available"), after=mark)
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
    problems = csms.ledger.violations
    if problems:
        print(f"The CSMS found {len(problems)} protocol problem(s): {problems}")
        return 1
    print("The CSMS checked every message against the OCPP 2.0.1 schemas and the seqNo rules: "
          "no problems.")  # fmt: skip
    print("Next: `chargerd run --config config/sim.yaml` (csms.ocpp_version: \"2.0.1\") with "
          "`scripts/dev-csms --ocpp 2.0.1`.")  # fmt: skip
    return 0
